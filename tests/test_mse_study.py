"""The dynamical-MSE study: its learning-rate rule, its configurations, and its stage logic.

The rule is checked against a dense Hessian at a small width. The stages are
checked on a fake store (a function of the configuration), as in
test_generalisation.py: real runs take up to a minute and a half each.
"""

import functools
import types

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree

from dynloss_lib import data, losses, models
from dynloss_book import spiral
from dynloss_book import generalisation, mse
from dynloss_book import mse_curvature


@functools.lru_cache(maxsize=None)  # shared by two tests
def _dense_top_eigenvalue(width, loss):
  x, y = data.spiral()
  module = models.mlp(width, 3, "paper", jnp.float64)
  params = module.init(jax.random.PRNGKey(0), jnp.zeros((1, 2)))
  flat, unravel = ravel_pytree(params)
  fn = losses.dynamical_loss(loss)
  hessian = jax.hessian(lambda w: fn(module.apply(unravel(w), jnp.asarray(x)), jnp.asarray(y),
                                     jnp.ones(3)))(flat)
  return float(jnp.linalg.eigvalsh(hessian)[-1]), flat.size


@pytest.mark.parametrize("loss", ["cross_entropy", "dmse_sample"])
def test_lanczos_curvature_equals_the_dense_hessian(loss):
  dense, size = _dense_top_eigenvalue(20, loss)
  assert size == 123 > mse.LANCZOS_ORDER  # a real Krylov space, not the whole one
  assert mse.curvature_at_init(20, loss) == pytest.approx(dense, rel=1e-6, abs=0)
  # The comparison can fail: three Lanczos steps are not enough.
  assert abs(mse.curvature_at_init(20, loss, order=3) - dense) > 1e-6 * dense


def test_learning_rate_is_the_curvature_ratio_to_3_digits():
  ce, _ = _dense_top_eigenvalue(20, "cross_entropy")
  squared, _ = _dense_top_eigenvalue(20, "dmse_sample")
  assert mse.learning_rate(20) == mse.round_significant(ce / squared)
  assert 0 < mse.learning_rate(20) < 1  # the MSE's curvature at initialisation is larger
  with pytest.raises(ValueError, match="got width=0"):
    mse.learning_rate(0)


def test_round_significant():
  assert mse.round_significant(0.37673) == 0.377
  assert mse.round_significant(3.5194) == 3.52 and mse.round_significant(1234.5) == 1230
  with pytest.raises(ValueError, match="got value=-1.0"):
    mse.round_significant(-1.0)


def test_configs_name_the_loss_width_seed_and_learning_rate():
  config = mse.study_config(1000, "dmse_output", 10.0, 1000, 4, 0.352)
  key = config.to_dict()
  assert (key["loss"], key["width"], key["seed"], key["learning_rate"]) == ("dmse_output", 1000,
                                                                           4, 0.352)
  assert key["validation_draws"] == 10 and key["last_cycle_static"] and key["steps"] == 70_000
  assert mse.study_config(1000, "dmse_output", 10.0, 1000, 4, 0.176).to_dict() != key
  with pytest.raises(ValueError, match="dmse_output at A = 1"):
    mse.study_config(100, "dmse_output", 1.0, 5000, 0, 0.361)
  with pytest.raises(ValueError, match="got eta=0.5"):
    mse.study_config(100, "cross_entropy", 70.0, 5000, 0, 0.5)


def test_arms_are_the_designed_grid():
  keys = mse.arm_keys()
  assert keys[0] == ("dmse_sample", 1.0, 5000) and len(keys) == len(set(keys)) == 11
  assert {k for k in keys if k[1] != 1.0 and k[0] != "cross_entropy"} == {
      (loss, a, t) for loss in ("dmse_sample", "dmse_output") for a in (10.0, 70.0)
      for t in (1000, 5000)}
  assert ("dmse_output", 1.0, 5000) not in keys
  assert mse.WIDTHS == (100, 300, 1000) and mse.SEEDS == tuple(range(6))
  assert mse.PRIMARY_CELL == (70.0, 5000)


class FakeStore:
  """Runs as functions of the configuration; remembers what was computed (then stored)."""

  def __init__(self, val=lambda c: 0.9, stored=lambda c: True, diverges=lambda c: False):
    self.val, self.diverges, self.computed = val, diverges, []
    self.stored = lambda c: stored(c) or c in self.computed

  def run(self, config):
    final = {"val_accuracy": self.val(config), "train_accuracy": self.val(config) + 0.05,
             "diverged": self.diverges(config), "wall_seconds": 2.0}
    return types.SimpleNamespace(config=config, final=final)

  def load_runs(self, directory, configs, recompute=False, progress=True, devices=None,
                cpu_isa="AVX2"):
    self.computed += [c for c in configs if recompute or not self.stored(c)]
    return [self.run(c) for c in configs]

  def stored_runs(self, directory, configs, cpu_isa="AVX2"):
    return [self.run(c) if self.stored(c) else None for c in configs]


@pytest.fixture
def fake(monkeypatch):
  def install(**kwargs):
    store = FakeStore(**kwargs)
    for module in (mse, spiral):  # the study's own calls, and spiral.runs_for's
      monkeypatch.setattr(module, "load_runs", store.load_runs, raising=False)
      monkeypatch.setattr(module, "stored_runs", store.stored_runs, raising=False)
    monkeypatch.setattr(mse, "learning_rate", lambda width: {100: 0.4, 300: 0.3, 1000: 0.2}[width])
    return store
  return install


def test_the_rate_is_halved_while_seed_0s_static_run_diverges(fake):
  store = fake(diverges=lambda c: c.learning_rate > 0.06, stored=lambda c: False)
  rate = mse.settled_learning_rate("unused", 1000)
  assert rate.rule == 0.2 and rate.tried == (0.2, 0.1, 0.05) and rate.diverged == (True, True,
                                                                                   False)
  assert rate.value == 0.05
  assert [(c.seed, c.amplitude, c.loss, c.learning_rate) for c in store.computed] == [
      (0, 1.0, "dmse_sample", 0.2), (0, 1.0, "dmse_sample", 0.1), (0, 1.0, "dmse_sample", 0.05)]
  fake(diverges=lambda c: True)
  with pytest.raises(RuntimeError, match="diverged at every rate"):
    mse.settled_learning_rate("unused", 100)


def test_the_study_trains_the_mse_family_at_the_settled_rate(fake):
  halve_at_1000 = lambda c: c.width == 1000 and c.loss != "cross_entropy" and c.learning_rate > 0.1
  store = fake(stored=lambda c: False, diverges=halve_at_1000)
  study = mse.dynamical_mse("unused", progress=False)
  assert {w: r.value for w, r in study.learning_rates.items()} == {100: 0.4, 300: 0.3, 1000: 0.1}
  assert len(study.halving_runs) == 1 and study.halving_runs[0].config.learning_rate == 0.2
  for config in store.computed:
    if config.loss == "cross_entropy":
      assert config.learning_rate == 1.0
    else:
      assert config.learning_rate == study.learning_rates[config.width].value or config in (
          r.config for r in study.halving_runs)
  # Each run once: 3 widths x (11 arms x 6 seeds) plus the one halving run.
  assert len(store.computed) == len(set(store.computed)) == 3 * 11 * 6 + 1
  assert not any(c.loss == "dmse_output" and c.amplitude == 1.0 for c in store.computed)
  assert len(mse.study_runs("unused", study)) == 3 * 11 * 6 + 1


def test_the_ce_arm_is_the_generalisation_studys_and_only_missing_runs_are_computed(fake):
  shared = {generalisation.study_config(w, a, t, s) for w in mse.WIDTHS
            for a, t in ((1.0, generalisation.STATIC_PERIOD), generalisation.PAPER_CELL)
            for s in mse.SEEDS}
  missing = lambda c: c.loss == "cross_entropy" and c.seed == 5 and c.width < 1000
  store = fake(stored=lambda c: not missing(c))
  study = mse.dynamical_mse("unused", progress=False)
  assert {(c.width, c.amplitude) for c in store.computed} == {(100, 1.0), (100, 70.0),
                                                              (300, 1.0), (300, 70.0)}
  assert set(store.computed) <= shared
  assert study.arm(300, "cross_entropy", 70.0, 5000).learning_rate == 1.0


def test_gains_are_paired_against_the_losss_own_static_run(fake):
  def val(c):
    noise = 0.01 * np.random.default_rng(c.seed).normal()  # shared by a seed's pair
    lift = 0.02 if (c.loss, c.amplitude, c.period) == ("dmse_output", 70.0, 5000) else 0.0
    ce = -0.1 if c.loss == "cross_entropy" else 0.0
    return 0.9 + noise + lift + ce
  fake(val=val)
  study = mse.dynamical_mse("unused", progress=False)
  gain = study.gain(300, "dmse_output")
  assert gain.mean == pytest.approx(0.02) and gain.half_width < 1e-12
  assert study.gain(300, "dmse_sample").mean == pytest.approx(0.0, abs=1e-12)
  assert study.gain(300, "cross_entropy").mean == pytest.approx(0.0, abs=1e-12)
  assert study.family_gap(300).mean == pytest.approx(0.1)
  sentence = mse.verdict_sentence(study, 300, "dmse_output")
  assert sentence.startswith("Width 300, dmse_output (A = 70, T = 5000) minus static MSE: "
                             "validation accuracy +0.0200 (95% CI +0.0200 to +0.0200), above 0;")
  assert sentence.endswith("(6 paired seeds, 0 diverged).")
  assert "static MSE minus static CE: validation accuracy +0.1000" in mse.family_sentence(study,
                                                                                          300)


def test_loading_only_reports_missing_runs(fake):
  fake(stored=lambda c: c.width != 300)
  with pytest.raises(ValueError, match="not stored.*regenerate --only-missing"):
    mse.dynamical_mse("unused", progress=False, compute=False)


def test_curvature_runs_are_stored_with_their_measurement_settings(tmp_path, monkeypatch):
  config = mse_curvature.curvature_config("dmse_output", 70.0, 0, 0.3).replace(width=8, steps=300,
                                                                     period=100)
  assert mse_curvature.curvature_key(config)["measurements"]["hessian_every"] == 100
  record = mse_curvature.curvature_run(tmp_path, config, progress=False)
  assert record.arrays["hessian_step"].tolist() == [0, 100, 200]
  assert np.isfinite(record.arrays["hessian_max"]).all() and record.final["diverged_step"] == -1
  again = mse_curvature.curvature_run(tmp_path, config, progress=False)  # loaded, not recomputed
  np.testing.assert_array_equal(again.arrays["hessian_max"], record.arrays["hessian_max"])


def test_ratio_medians_use_the_second_half_and_each_arms_rate():
  steps = np.arange(0, mse_curvature.CURVATURE_STEPS, 100)
  hessian = np.where(steps < mse_curvature.CURVATURE_STEPS // 2, 100.0, 1.0)[None, None, :].repeat(2, 0)
  hessian[1, 0, -1] = np.nan  # a diverged run's last measurements are NaN
  curvature = mse_curvature.Curvature(("a", "b"), ("x", "y"), np.array([1.0, 0.5]), (0,),
                            steps, hessian, None, None, None)
  np.testing.assert_allclose(curvature.ratio_medians(), [0.5, 0.25])
