#!/usr/bin/env bash
# The NTK reference test: the library's empirical NTK against neural-tangents 0.6.5, in its own
# pinned environment .venv-nt (requirements-nt.txt; neural-tangents imports only with JAX 0.5.x,
# TensorFlow and tf2jax 0.3.7). Fails (never skips) if neural_tangents cannot be imported.
# pip's output goes to .venv-nt/pip.log (shown only if an install fails).
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
  echo "installing requirements-nt.txt into .venv-nt (log: .venv-nt/pip.log)" >&2
  if ! { .venv-nt/bin/python -m pip install --quiet --upgrade pip &&
         .venv-nt/bin/python -m pip install --quiet -r requirements-nt.txt &&
         .venv-nt/bin/python -m pip install --quiet --no-deps -e .; } > .venv-nt/pip.log 2>&1; then
    tail -n 40 .venv-nt/pip.log >&2
    echo "error: installing requirements-nt.txt into .venv-nt failed (full log: .venv-nt/pip.log)" >&2
    exit 1
  fi
  echo "$wanted" > "$stamp"
fi
# TF_CPP_MIN_LOG_LEVEL=3: TensorFlow and jaxlib both register CUDA plugins (cuFFT, cuDNN,
# cuBLAS) at import and log the clash as errors, although everything runs on the CPU here.
# neural-tangents 0.6.5 imports jax.core names that JAX 0.5 deprecates: those warnings are
# neural-tangents' own and are filtered; any other warning is still shown.
export DYNLOSS_NT_TESTS=1 PYTHONHASHSEED=0 JAX_PLATFORMS=cpu TF_CPP_MIN_LOG_LEVEL=3
# A missing or broken neural-tangents is an error here, not a skip (its import messages are
# shown only then; in the tests, tests/nt_reference/conftest.py filters the CUDA lines).
if ! .venv-nt/bin/python -c "import neural_tangents" 2> .venv-nt/import.log; then
  cat .venv-nt/import.log >&2
  echo "error: neural_tangents cannot be imported in .venv-nt" >&2
  exit 1
fi
exec .venv-nt/bin/python -m pytest -o addopts="" -p no:cacheprovider \
  -W "ignore:jax.core.:DeprecationWarning" tests/nt_reference "$@"
