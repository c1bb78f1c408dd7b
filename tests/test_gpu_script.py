"""The prepared GPU run (scripts/gpu_run.py) passes its CPU dry run at toy sizes.

Its GPU tests are skipped here only because tests/test_gpu.py runs them in this same command.
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PARTS = ("cifar_fit", "cifar_throughput", "study_throughput", "spiral_one_run", "fig4_measured",
         "spiral_grid_512", "spiral_grid_300", "myrtle5_64_gpu")


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
  read = lambda part: json.loads((tmp_path / f"{part}.json").read_text())
  assert read("spiral_one_run")["steps_per_s"] > 0
  assert len(read("spiral_one_run")["library_over_yardstick_speed"]) == 3
  assert read("study_throughput")["wall_over_training_compute"] > 0
  assert set(read("cifar_throughput")) >= {"float32", "bfloat16"}
  assert "gain" in read("cifar_fit")["myrtle5"]  # the fitting study's verdict, at toy size
  stored = list((tmp_path / "results").glob("cifar10-run-*.npz"))
  assert stored  # the studies' runs are stored, with their environment
  from dynloss_book import store
  clean = [store.read(p).final.get("final_clean_train_accuracy") for p in stored]
  assert any(value is not None for value in clean)  # the fitting study measures its fit
  # the output folder stays small: results and logs, no checkpoints
  assert not [p for p in tmp_path.rglob("*") if "checkpoint" in p.name]
  environment = json.loads((tmp_path / "environment.json").read_text())
  assert environment["backend"] == "cpu" or environment["device_kind"]
