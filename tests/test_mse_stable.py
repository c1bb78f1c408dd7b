"""The dynamical-MSE follow-up (a stable start) on a fake store: its rate, arms and gains."""

import types

import numpy as np
import pytest

from dynloss_book import mse, mse_stable, spiral


def _params(width, dead):
  # A hidden layer whose first `dead` units are negative on every spiral point.
  kernel = np.zeros((2, width))
  bias = np.ones(width)
  bias[:dead] = -10.0
  return {"params": {"Dense_0": {"kernel": kernel, "bias": bias}, "Dense_1": {}}}


@pytest.fixture
def fake(monkeypatch):
  computed = []

  def load_runs(directory, configs, recompute=False, progress=True, devices=None,
                cpu_isa="AVX2"):
    computed.extend(configs)
    runs = []
    for c in configs:
      val = 0.9 + (0.01 * (c.loss == "dmse_output") + 0.02 * (c.loss == "dmse_sample"))
      val -= 0.02 * (c.amplitude == 1.0)  # the static MSE: 0.9
      final = {"val_accuracy": val, "train_accuracy": val, "diverged": False, "wall_seconds": 1.0}
      runs.append(types.SimpleNamespace(config=c, final=final, params=_params(c.width, c.seed)))
    return runs

  monkeypatch.setattr(spiral, "load_runs", load_runs)
  monkeypatch.setattr(mse_stable, "stable_learning_rate", lambda width: 1.0 / width)
  return computed


def test_follow_up_runs_three_distinct_arms_at_the_stable_rate(fake):
  study = mse_stable.stable_start("unused", progress=False)
  assert len(fake) == len(set(fake)) == 3 * 3 * 6  # widths x arms x seeds, no duplicate
  by_arm = {}
  for c in fake:
    by_arm.setdefault((c.loss, c.amplitude, c.period), set()).add(c.learning_rate * c.width)
  assert set(by_arm) == {("dmse_sample", 1.0, 5000), ("dmse_sample", 70.0, 5000),
                         ("dmse_output", 70.0, 5000)}
  assert all(products == {1.0} for products in by_arm.values())  # eta from the stable rule
  assert study.learning_rates == {100: 0.01, 300: 1 / 300, 1000: 0.001}
  # the gains are over the static MSE of the same width and seed
  assert study.gain(300, "dmse_sample").mean == pytest.approx(0.02)
  assert study.gain(300, "dmse_output", "train").mean == pytest.approx(0.01)
  assert study.dead[(100, mse_stable.STATIC)].tolist() == list(range(6))  # seed s: s dead units
  assert "width 1000, dmse_output (A = 70, T = 5000) minus static MSE" in mse_stable.sentence(
      study, 1000, "dmse_output")


def test_stable_rule_is_one_over_the_curvature(monkeypatch):
  monkeypatch.setattr(mse, "curvature_at_init", lambda width, loss: {"dmse_sample": 4.4452}[loss])
  mse_stable.stable_learning_rate.cache_clear()
  try:
    assert mse_stable.stable_learning_rate(123) == 0.225
  finally:
    mse_stable.stable_learning_rate.cache_clear()


def test_dead_units_counts_units_off_on_every_point():
  x = np.array([[1.0, 0.0], [-1.0, 0.5]])
  from dynloss_lib import models
  assert mse_stable.dead_units(models.mlp(5), _params(5, 2), x) == 2
  with pytest.raises(ValueError, match="arm must be one of"):
    mse_stable.config(100, "hinge", 0)
