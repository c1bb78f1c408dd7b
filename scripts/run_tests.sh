#!/usr/bin/env bash
# The project's test command: doctests, unit tests, the notebooks under nbval, and the book build.
set -euo pipefail
cd "$(dirname "$0")/.."
python=$(bash scripts/setup_env.sh)
export PYTHONHASHSEED=0 MPLBACKEND=Agg
"$python" -m pytest "$@"
