#!/usr/bin/env bash
# The project's test command: doctests, unit tests, every notebook under nbval, the book build
# (tests/test_book_build.py), the rendered-math check in headless Chromium
# (tests/test_rendered_math.py), then the NTK check against neural-tangents in its own pinned
# environment (scripts/run_nt_tests.sh). Extra arguments go to the main pytest run.
set -euo pipefail
cd "$(dirname "$0")/.."
python=$(bash scripts/setup_env.sh)
# tests/test_rendered_math.py needs Debian's chromium. When it is missing and this runs as root
# with apt-get (CI, a fresh machine), install it here; otherwise that test skips, except under
# CI=true, where a missing chromium makes it FAIL.
if ! command -v chromium >/dev/null && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "installing chromium with apt-get (log: .venv/apt-chromium.log)" >&2
  if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; } \
      > .venv/apt-chromium.log 2>&1; then
    tail -n 20 .venv/apt-chromium.log >&2
    echo "warning: could not install chromium; tests/test_rendered_math.py will not pass" >&2
  fi
fi
export PYTHONHASHSEED=0 MPLBACKEND=Agg
"$python" -m pytest "$@"
bash scripts/run_nt_tests.sh
