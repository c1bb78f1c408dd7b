"""Helpers of the tests that work on a copy of the checkout in a fresh environment
(tests/test_install.py, tests/test_colab.py)."""

import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run(command, timeout: int = 1800, **kwargs) -> subprocess.CompletedProcess:
  """Run ``command``; a failure fails the test with the command and the ends of its output."""
  out = subprocess.run(command, capture_output=True, text=True, timeout=timeout, **kwargs)
  assert out.returncode == 0, f"{command}\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}"
  return out


def copy_checkout(destination: Path) -> Path:
  """Copy the files git would ship (tracked, or new and not ignored) to ``destination``."""
  files = run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
              cwd=ROOT).stdout.split("\0")
  for name in filter(None, files):
    if (ROOT / name).is_file():
      (destination / name).parent.mkdir(parents=True, exist_ok=True)
      shutil.copy2(ROOT / name, destination / name)
  return destination
