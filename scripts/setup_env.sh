#!/usr/bin/env bash
# Create (or reuse) the project's virtual environment in .venv and install requirements.txt.
# Needs only Python 3.11 (or newer) and pip. Prints the environment's python path last.
# pip's output goes to .venv/pip.log and is shown only if an install fails.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null || PYTHON=python3
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
stamp=.venv/.requirements.sha256
wanted=$(cat requirements.txt pyproject.toml | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$wanted" ]; then
  echo "installing requirements.txt into .venv (log: .venv/pip.log)" >&2
  if ! { .venv/bin/python -m pip install --quiet --upgrade pip &&
         .venv/bin/python -m pip install --quiet -r requirements.txt; } > .venv/pip.log 2>&1; then
    tail -n 40 .venv/pip.log >&2
    echo "error: installing requirements.txt into .venv failed (full log: .venv/pip.log)" >&2
    exit 1
  fi
  echo "$wanted" > "$stamp"
fi
echo "$PWD/.venv/bin/python"
