"""Stored book experiments: per-run caching, the phase-diagram layout, bias-free runs."""

import json
from pathlib import Path

import numpy as np

from dynloss_book import store
from dynloss_book import spiral, registry


def small(**changes):
  return spiral.spiral_config(steps=200, period=50, record_every=100, **changes)


def test_load_runs_computes_once_then_loads(tmp_path, monkeypatch):
  configs = [small(amplitude=1.0), small(amplitude=5.0)]
  first = spiral.load_runs(tmp_path, configs, progress=False)
  assert len(list(tmp_path.glob("spiral-*.npz"))) == 2

  def fail(*args, **kwargs):
    raise AssertionError("a stored run was recomputed")
  monkeypatch.setattr(spiral.experiments, "run_spiral_grid", fail)
  second = spiral.load_runs(tmp_path, configs, progress=False)
  for a, b in zip(first, second):
    assert a.final == b.final
    np.testing.assert_array_equal(a.history["train_accuracy"], b.history["train_accuracy"])
    np.testing.assert_array_equal(a.params["params"]["Dense_0"]["kernel"],
                                  b.params["params"]["Dense_0"]["kernel"])


def test_changed_config_is_computed_anew(tmp_path):
  spiral.load_runs(tmp_path, [small(seed=0)], progress=False)
  spiral.load_runs(tmp_path, [small(seed=1)], progress=False)
  assert len(list(tmp_path.glob("spiral-*.npz"))) == 2


def test_phase_diagram_layout(tmp_path):
  diagram = spiral.phase_diagram(tmp_path, 8, [2.0, 5.0], [20, 40, 60], [0, 1],
                                           steps=100, validation=True, progress=False)
  assert diagram.train.shape == diagram.val.shape == diagram.diverged.shape == (2, 3, 2)
  assert diagram.static_train.shape == diagram.static_val.shape == (2,)
  assert ((diagram.train >= 0) & (diagram.train <= 1)).all()
  # cell (A=5, T=40, seed 1) holds exactly that run
  [run] = spiral.load_runs(
      tmp_path, [spiral.spiral_config(width=8, amplitude=5.0, period=40, seed=1,
                                                steps=100, validation=True)], progress=False)
  assert diagram.train[1, 1, 1] == run.final["train_accuracy"]


def test_bias_free_runs_have_no_biases(tmp_path):
  [run] = spiral.load_runs(tmp_path, [small(width=8)], progress=False, bias=False)
  assert set(run.params["params"]["Dense_0"]) == {"kernel"}
  [with_bias] = spiral.load_runs(tmp_path, [small(width=8)], progress=False)
  assert "bias" in with_bias.params["params"]["Dense_0"]


def test_experiments_are_registered():
  for name in ("spiral_seeds", "spiral_bias_free", "phase_width100", "phase_width1000"):
    assert registry.experiment(name) is getattr(spiral, name)
  for name in registry.EXPERIMENTS:  # every entry resolves to a function
    assert callable(registry.experiment(name))
  for name, targets in registry.CLAIMS.items():
    assert name in registry.EXPERIMENTS and len(registry.claims(name)) == len(targets)


def test_stored_results_match_their_configuration():
  # Every stored spiral result must load under the configuration it records.
  folder = Path(__file__).resolve().parents[1] / "book" / "results"
  for path in sorted(folder.glob("spiral-*.npz")):
    record = store.read(path)
    assert store.path_of(folder, "spiral", record.config) == path
    assert set(record.history) >= {"step", "train_accuracy"} and "params/params/Dense_0/kernel" \
        in record.arrays
