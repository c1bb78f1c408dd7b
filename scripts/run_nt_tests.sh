#!/usr/bin/env bash
# The NTK reference test: the library's empirical NTK against neural-tangents 0.6.5, in its own
# pinned environment .venv-nt (requirements-nt.txt; neural-tangents imports only with JAX 0.5.x,
# TensorFlow and tf2jax 0.3.7). Fails (never skips) if neural_tangents cannot be imported.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null || PYTHON=python3
if [ ! -x .venv-nt/bin/python ]; then
  "$PYTHON" -m venv .venv-nt
fi
stamp=.venv-nt/.requirements.sha256
wanted=$(cat requirements-nt.txt pyproject.toml | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$wanted" ]; then
  .venv-nt/bin/python -m pip install --quiet --upgrade pip >&2
  .venv-nt/bin/python -m pip install --quiet -r requirements-nt.txt >&2
  .venv-nt/bin/python -m pip install --quiet --no-deps -e . >&2
  echo "$wanted" > "$stamp"
fi
# A missing or broken neural-tangents is an error here, not a skip.
.venv-nt/bin/python -c "import neural_tangents" || {
  echo "error: neural_tangents cannot be imported in .venv-nt" >&2; exit 1; }
export DYNLOSS_NT_TESTS=1 PYTHONHASHSEED=0 JAX_PLATFORMS=cpu TF_CPP_MIN_LOG_LEVEL=2
exec .venv-nt/bin/python -m pytest -o addopts="" -p no:cacheprovider tests/nt_reference "$@"
