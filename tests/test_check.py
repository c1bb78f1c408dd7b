"""regenerate --check: a recomputed store is compared with the stored one, claims re-evaluated."""

import json

import numpy as np

from dynloss_book import store
from dynloss_book import spiral, check

CONFIGS = [spiral.spiral_config(amplitude=a, period=20, steps=200, seed=s, width=8)
           for a in (1.0, 5.0) for s in (0, 1)]


def tiny_experiment(directory, recompute=False, progress=True):
  return spiral.load_runs(directory, CONFIGS, recompute, progress=False)


def tiny_claim(directory):
  runs = spiral.stored_runs(directory, CONFIGS)
  value = float(np.median([r.final["train_accuracy"] for r in runs]))
  return check.Claim("median train accuracy > 0.2", value, value > 0.2)


def test_unchanged_store_reports_nothing(tmp_path):
  tiny_experiment(tmp_path)
  report = check.check("tiny", tiny_experiment, [tiny_claim], tmp_path, progress=False)
  assert report.compared == 4 and report.changes == []
  assert not report.claim_flipped
  assert report.lines()[0] == "tiny: 4 results recomputed, 0 changed"


def test_altered_run_and_flipped_claim_are_reported(tmp_path):
  tiny_experiment(tmp_path)
  # Alter one stored run: its final accuracy becomes 0.0 (and the claim's median drops).
  for config in CONFIGS[:3]:
    key = spiral.key(config)
    record = store.load(tmp_path, "spiral", config, key)
    record.final = dict(record.final, train_accuracy=0.0)
    store.save(tmp_path, record, key)
  altered = store.path_of(tmp_path, "spiral", None, spiral.key(CONFIGS[0])).name
  before = {p.name: p.read_bytes() for p in tmp_path.glob("*.npz")}
  report = check.check("tiny", tiny_experiment, [tiny_claim], tmp_path, progress=False)
  assert {c.file for c in report.changes} == {
      store.path_of(tmp_path, "spiral", None, spiral.key(c)).name for c in CONFIGS[:3]}
  change = next(c for c in report.changes if c.file == altered)
  old, new = change.differences["train_accuracy"]
  assert old == 0.0 and new > 0.0
  assert report.claim_flipped
  stored_claim, fresh_claim = report.claims[0]
  assert not stored_claim.holds and fresh_claim.holds
  assert any("claim FLIPPED" in line for line in report.lines())
  assert any(f"changed {altered}: train_accuracy 0.0 ->" in line for line in report.lines())
  # the stored results are never touched
  assert {p.name: p.read_bytes() for p in tmp_path.glob("*.npz")} == before


def test_missing_result_is_reported(tmp_path):
  tiny_experiment(tmp_path)
  next(tmp_path.glob("*.npz")).unlink()
  report = check.check("tiny", tiny_experiment, [], tmp_path, progress=False)
  assert [c.differences for c in report.changes] == [{"file": ("missing", "computed")}]


def test_cli_check_rejects_only_missing():
  import subprocess, sys
  from pathlib import Path
  out = subprocess.run([sys.executable, "-m", "dynloss_book", "regenerate", "--check",
                        "--only-missing", "spiral_seeds"], capture_output=True, text=True,
                       cwd=Path(__file__).resolve().parents[1] / "book")
  assert out.returncode == 2 and "--only-missing" in out.stderr


def test_a_result_made_on_another_device_is_skipped_and_said(tmp_path):
  tiny_experiment(tmp_path)
  key = spiral.key(CONFIGS[0])
  record = store.load(tmp_path, "spiral", CONFIGS[0], key)
  record.environment = dict(record.environment, backend="gpu", device_kind="NVIDIA H200")
  record.final = dict(record.final, train_accuracy=0.0)  # not compared, so not a change
  store.save(tmp_path, record, key)
  report = check.check("tiny", tiny_experiment, [], tmp_path, progress=False)
  assert report.changes == [] and len(report.skipped) == 1
  assert "made on gpu NVIDIA H200, recomputed on cpu" in report.skipped[0]
  assert report.lines()[0] == "tiny: 4 results recomputed, 0 changed, 1 not compared"


def test_a_gpu_study_is_not_trained_on_a_cpu(tmp_path, capsys):
  from dynloss_book import cifar10
  results = cifar10.run_study("myrtle5-64-gpu", tmp_path, progress=False, parts=["screen"])
  assert results["screen"] == [None] * 20
  assert "trains none of them" in capsys.readouterr().out
