#!/usr/bin/env bash
# The README's build command: (re)create .venv, then build the whole book into _build/html,
# executing every notebook; any warning or cell error fails the build.
set -euo pipefail
cd "$(dirname "$0")/.."
python=$(bash scripts/setup_env.sh)
# DYNLOSS_STORED_ONLY=1: a chapter whose stored result is missing stops with an error that
# names it and the command that computes it, instead of computing for hours in the build.
export PYTHONHASHSEED=0 MPLBACKEND=Agg DYNLOSS_STORED_ONLY=1
"$(dirname "$python")/jupyter-book" build --all --warningiserror --nitpick --keep-going . "$@"
echo "built: $PWD/_build/html/index.html"
