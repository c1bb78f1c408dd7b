"""scripts/multihost_grid.py: two jax.distributed processes give every run's single-process result."""

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "multihost_grid.py"


def test_two_processes_match_one():
  out = subprocess.run([sys.executable, str(SCRIPT), "--local-demo", "2", "--steps", "200",
                        "--seeds", "0"], capture_output=True, text=True, timeout=900)
  assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
  result = json.loads(out.stdout.strip().splitlines()[-1])
  assert result["processes"] == 2 and result["devices"] == 2
  assert result["identical_to_one_process"] is True
  assert [(r["amplitude"], r["seed"]) for r in result["runs"]] == [(1.0, 0), (70.0, 0)]


def test_missing_arguments_is_a_clear_error():
  out = subprocess.run([sys.executable, str(SCRIPT), "--steps", "10"], capture_output=True,
                       text=True, timeout=60)
  assert out.returncode == 1 and "--coordinator" in out.stderr
