#!/usr/bin/env bash
# The project's test command: doctests, unit tests, every notebook under nbval, the book build
# (tests/test_book_build.py), then the NTK check against neural-tangents in its own pinned
# environment (scripts/run_nt_tests.sh). Extra arguments go to the main pytest run.
set -euo pipefail
cd "$(dirname "$0")/.."
python=$(bash scripts/setup_env.sh)
export PYTHONHASHSEED=0 MPLBACKEND=Agg
"$python" -m pytest "$@"
bash scripts/run_nt_tests.sh
