"""The prepared GPU run (scripts/gpu_run.py) passes its CPU dry run at toy sizes.

Its GPU tests are skipped here only because tests/test_gpu.py runs them in this same command.
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PARTS = ("spiral_one_run", "spiral_grid_512", "spiral_grid_300", "fig4_measured",
         "cifar_throughput", "myrtle5_64_gpu")


@pytest.mark.slow
def test_gpu_script_dry_run(tmp_path):
  out = subprocess.run([sys.executable, str(ROOT / "scripts" / "gpu_run.py"), "--out",
                        str(tmp_path), "--toy", "--skip", "gpu_tests"],
                       capture_output=True, text=True, timeout=1200, cwd=ROOT)
  assert out.returncode == 0, out.stdout + out.stderr[-3000:]
  log = (tmp_path / "log.txt").read_text()
  for part in PARTS:
    assert f"{part}: ok" in log, log
    result = json.loads((tmp_path / f"{part}.json").read_text())
    assert "error" not in result
  assert "gpu_tests: skipped (--skip)" in log
  assert json.loads((tmp_path / "spiral_one_run.json").read_text())["steps_per_s"] > 0
  stored = list((tmp_path / "results").glob("cifar10-run-*.npz"))
  assert stored  # the study's runs are stored, with their environment
  environment = json.loads((tmp_path / "environment.json").read_text())
  assert environment["backend"] == "cpu" or environment["device_kind"]
