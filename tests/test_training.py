"""Full-batch GD: a hand-computed step, determinism, divergence, grids, bad input."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dynloss_lib import data, losses, models, schedules, training
from dynloss_lib.experiments import SpiralConfig, run_spiral, run_spiral_grid


def numpy_gd_step(params, x, y, gamma, lr):
  """One GD step of the MLP on F, with the gradient written out by hand."""
  w1, b1 = params["Dense_0"]["kernel"], params["Dense_0"]["bias"]
  w2, b2 = params["Dense_1"]["kernel"], params["Dense_1"]["bias"]
  pre = x @ w1 + b1
  hidden = np.maximum(pre, 0)
  logits = hidden @ w2 + b2
  shifted = logits - logits.max(1, keepdims=True)
  probs = np.exp(shifted) / np.exp(shifted).sum(1, keepdims=True)
  n = len(y)
  loss = -np.mean(gamma[y] * np.log(probs[np.arange(n), y]))
  d_logits = gamma[y][:, None] * (probs - np.eye(probs.shape[1])[y]) / n
  d_hidden = (d_logits @ w2.T) * (pre > 0)
  new = {"Dense_0": {"kernel": w1 - lr * x.T @ d_hidden, "bias": b1 - lr * d_hidden.sum(0)},
         "Dense_1": {"kernel": w2 - lr * hidden.T @ d_logits, "bias": b2 - lr * d_logits.sum(0)}}
  return loss, new


def test_one_step_matches_hand_computed_update():
  config = SpiralConfig(width=16, amplitude=70.0, period=10, steps=3, learning_rate=0.7, seed=3)
  x, y = data.spiral()
  module = models.mlp(16)
  params = jax.tree_util.tree_map(np.asarray, module.init(jax.random.PRNGKey(3),
                                                          jnp.zeros((1, 2)))["params"])
  gamma_fn = schedules.triangle(70.0, 10, 3)
  losses = []
  for step in range(3):
    loss, params = numpy_gd_step(params, x, y, np.asarray(gamma_fn(step)), 0.7)
    losses.append(loss)
  run = run_spiral(config, progress=False)
  np.testing.assert_allclose(run.history["loss"], losses, rtol=1e-12)
  for layer in ("Dense_0", "Dense_1"):
    for name in ("kernel", "bias"):
      np.testing.assert_allclose(run.params["params"][layer][name], params[layer][name],
                                 rtol=1e-11, atol=1e-14)


def test_paper_init_statistics():
  module = models.mlp(1000, init="paper")
  params = module.init(jax.random.PRNGKey(0), jnp.zeros((1, 2)))["params"]
  assert params["Dense_0"]["kernel"].dtype == jnp.float64
  np.testing.assert_array_equal(params["Dense_0"]["bias"], 0.0)
  np.testing.assert_array_equal(params["Dense_1"]["bias"], 0.0)
  # W ~ N(0, 1/fan_in): fan_in 1000 for the readout.
  assert float(jnp.std(params["Dense_1"]["kernel"])) == pytest.approx(1 / np.sqrt(1000), rel=0.05)
  glorot = models.mlp(1000, init="glorot").init(jax.random.PRNGKey(0), jnp.zeros((1, 2)))
  assert float(jnp.abs(glorot["params"]["Dense_0"]["bias"]).max()) > 0


def test_bit_identical_histories():
  config = SpiralConfig(amplitude=70.0, period=100, steps=1500, seed=2)
  first, second = run_spiral(config, progress=False), run_spiral(config, progress=False)
  for name in first.history:
    np.testing.assert_array_equal(first.history[name], second.history[name])


def test_static_amplitude_loss_equals_cross_entropy():
  run = run_spiral(SpiralConfig(amplitude=1.0, steps=200), progress=False)
  np.testing.assert_allclose(run.history["loss"], run.history["static_loss"], rtol=1e-14)
  assert (run.history["loss"] >= 0).all()
  np.testing.assert_array_equal(run.history["gamma"], 1.0)


def test_record_every_and_validation():
  every = SpiralConfig(amplitude=5.0, period=50, steps=205, record_every=10, validation=True)
  run = run_spiral(every, progress=False)
  np.testing.assert_array_equal(run.record_steps, np.arange(0, 205, 10))
  full = run_spiral(every.replace(record_every=1), progress=False)
  np.testing.assert_allclose(run.history["loss"], full.history["loss"][::10], rtol=1e-13)
  assert run.final["train_accuracy"] == pytest.approx(full.final["train_accuracy"])
  assert 0 <= run.final["val_accuracy"] <= 1 and run.history["val_accuracy"].shape == (21,)


def test_vmapped_grid_matches_single_runs_over_short_horizon():
  configs = [SpiralConfig(amplitude=a, period=t, steps=300, learning_rate=lr, seed=s,
                          start_mid=mid)
             for a, t, lr, s, mid in [(1.0, 50, 1.0, 0, False), (70.0, 30, 0.5, 1, True),
                                      (20.0, 100, 2.0, 2, False)]]
  grid = run_spiral_grid(configs, batch_size=3, progress=False)
  for config, batched in zip(configs, grid):
    single = run_spiral(config, progress=False)
    np.testing.assert_allclose(batched.history["loss"], single.history["loss"], rtol=1e-9)
    np.testing.assert_allclose(batched.history["gamma"], single.history["gamma"], rtol=1e-15)


def test_divergence_is_reported_not_carried():
  def exploding(step):  # a schedule that makes the loss infinite from step 5 on
    return jnp.where(step >= 5, jnp.inf, 1.0) * jnp.ones(2)
  apply_fn = lambda w, x: x @ w
  x, y = jnp.eye(2), jnp.array([0, 1])
  result = training.gradient_descent(apply_fn, jnp.zeros((2, 2)), x, y, exploding,
                                     learning_rate=1.0, steps=10)
  assert int(result.diverged_step[0]) == 5
  assert np.isfinite(result.history["loss"][0, :5]).all()
  assert np.isnan(result.history["loss"][0, 6:]).all()
  reference = training.gradient_descent(apply_fn, jnp.zeros((2, 2)), x, y,
                                        schedules.constant(2), learning_rate=1.0, steps=5)
  np.testing.assert_array_equal(result.params[0], reference.params[0])


def sharp_gradient_loss(outputs, labels, class_weights):
  """The static cross-entropy plus a term whose value is 0 and whose gradient is
  ``class_weights[0] * class_weights[1]`` per output: infinite when both are 1e308."""
  flat = outputs - jax.lax.stop_gradient(outputs)
  return (losses.dynamical_cross_entropy(outputs, labels, jnp.ones(2))
          + jnp.sum(flat * class_weights[0]) * class_weights[1])


@pytest.mark.parametrize("record_every", [1, 3])
@pytest.mark.parametrize("blow_up", [4, 6])
def test_a_gradient_that_blows_up_under_a_finite_loss_stops_the_run_there(record_every, blow_up):
  # The recorded steps run unchecked in the compiled loop first (step 6 is recorded at both
  # record_every, step 4 only at 1): the run must stop at the step all the same.
  def run(steps):
    return training.run_batch(
        lambda w, x: x @ w, jnp.zeros((1, 2, 2)), jnp.eye(2), jnp.array([0, 1]),
        weights_fn=lambda step, hyper: jnp.where(step >= blow_up, 1e308, 1.0) * jnp.ones(2),
        hyper=None, learning_rates=[0.5], steps=steps, record_every=record_every,
        loss=sharp_gradient_loss, progress=False)
  result = run(12)
  assert result.diverged_step.tolist() == [blow_up]
  recorded = result.record_steps
  assert np.isfinite(result.history["loss"][0, recorded <= blow_up]).all()
  assert np.isnan(result.history["loss"][0, recorded > blow_up]).all()
  np.testing.assert_array_equal(result.params, run(blow_up).params)


def test_a_run_beside_one_that_diverges_is_trained_alike():
  # The diverging run makes its batch's chunk run again with every step checked: its
  # neighbour's trajectory must not depend on that.
  beside = {lr: run_spiral_grid([SpiralConfig(width=16, period=50, steps=400, seed=seed,
                                              learning_rate=rate)
                                 for seed, rate in [(0, 1.0), (1, lr)]],
                                batch_size=2, progress=False)
            for lr in (1.0, 1e300)}
  assert beside[1e300][1].diverged_step == 1 and beside[1.0][1].diverged_step is None
  calm, troubled = beside[1.0][0], beside[1e300][0]
  for name in calm.history:
    np.testing.assert_array_equal(calm.history[name], troubled.history[name])
  jax.tree_util.tree_map(np.testing.assert_array_equal, calm.params, troubled.params)


def test_huge_learning_rate_spiral_run_is_flagged():
  run = run_spiral(SpiralConfig(amplitude=1.0, steps=200, learning_rate=1e300), progress=False)
  assert run.diverged and run.summary()["diverged"] is True
  assert np.isnan(run.history["loss"][run.diverged_step + 1:]).all()


@pytest.mark.parametrize("change,message", [
    (dict(amplitude=0.9), "amplitude=0.9"), (dict(period=0), "period=0"),
    (dict(period=1.5), "period=1.5"), (dict(num_classes=1), "num_classes=1"),
    (dict(steps=0), "steps=0"), (dict(learning_rate=0.0), "learning_rate=0.0"),
    (dict(learning_rate=-1.0), "learning_rate=-1.0"), (dict(init="he"), "init='he'"),
    (dict(width=0), "width=0"), (dict(record_every=0), "record_every=0"),
    (dict(shape="saw"), "shape='saw'"), (dict(dtype="float16"), "dtype='float16'"),
])
def test_bad_config(change, message):
  with pytest.raises(ValueError, match=message):
    SpiralConfig(**change)


def test_bad_training_data():
  apply_fn = lambda w, x: x @ w
  schedule = schedules.constant(2)
  with pytest.raises(ValueError, match="same length, got 2 and 3"):
    training.gradient_descent(apply_fn, jnp.zeros((2, 2)), jnp.eye(2), jnp.array([0, 1, 1]),
                              schedule, learning_rate=1.0, steps=1)
  with pytest.raises(ValueError, match="got label 2 at index 1"):
    training.run_batch(apply_fn, jnp.zeros((1, 2, 2)), jnp.eye(2), jnp.array([0, 2]),
                       weights_fn=lambda s, h: jnp.ones(2), hyper=None, learning_rates=[1.0],
                       steps=1, num_classes=2)
  with pytest.raises(ValueError, match="must be finite"):
    training.gradient_descent(apply_fn, jnp.zeros((2, 2)), jnp.array([[0.0, jnp.inf], [1, 0]]),
                              jnp.array([0, 1]), schedule, learning_rate=1.0, steps=1)
  with pytest.raises(ValueError, match="steps=0"):
    training.gradient_descent(apply_fn, jnp.zeros((2, 2)), jnp.eye(2), jnp.array([0, 1]),
                              schedule, learning_rate=1.0, steps=0)
  with pytest.raises(ValueError, match="learning_rate=0.0"):
    training.gradient_descent(apply_fn, jnp.zeros((2, 2)), jnp.eye(2), jnp.array([0, 1]),
                              schedule, learning_rate=0.0, steps=1)


def test_compilation_key_is_derived_from_the_fields():
  from dynloss_lib.experiments import PER_RUN_FIELDS
  base = SpiralConfig()
  per_run = dict(amplitude=5.0, period=7, learning_rate=0.5, seed=3, start_mid=True,
                 last_cycle_static=True, final_static_steps=10, output_perturbation=1e-12)
  assert set(per_run) == PER_RUN_FIELDS
  for name, value in per_run.items():
    assert base.replace(**{name: value})._static_key() == base._static_key(), name
  others = dict(width=8, steps=9, init="glorot", shape="sine", record_every=3, validation=True,
                validation_draws=2, loss="dmse_sample", points_per_class=5, num_classes=4,
                revolutions=2.0, noise=0.1, data_seed=1, dtype="float32")
  assert set(others) | PER_RUN_FIELDS == {f.name for f in dataclasses.fields(SpiralConfig)}
  for name, value in others.items():
    assert base.replace(**{name: value})._static_key() != base._static_key(), name


def test_toy_descend_reuses_its_compilation():
  from dynloss_book import toy
  schedule = schedules.constant(2)
  toy.descend(3.0, schedule, 0.5, 10)
  before = len(training._RUNNERS)
  toy.descend(2.0, schedule, 0.5, 10)
  assert len(training._RUNNERS) == before


def test_calls_with_equal_settings_compile_once():
  # New function objects at every call (lambdas, a schedule made again): one compilation.
  traces = []
  x, y = jnp.eye(2), jnp.array([0, 1])

  def run(amplitude):
    apply_fn = lambda w, x: (traces.append(1), x @ w)[1]   # appends only while tracing
    schedule = schedules.triangle(amplitude, 4, num_classes=2)
    return training.gradient_descent(apply_fn, jnp.zeros((2, 2)), x, y, schedule,
                                     learning_rate=0.1, steps=6)
  first = run(3.0)
  compiled = len(traces)
  for _ in range(4):
    again = run(3.0)
  assert len(traces) == compiled
  np.testing.assert_array_equal(again.history["loss"], first.history["loss"])
  run(5.0)  # another amplitude is another schedule: compiled anew
  assert len(traces) > compiled
  assert len(training._RUNNERS) <= training.MAX_COMPILED


def test_lone_run_without_the_run_axis(monkeypatch):
  # Another program for the same run: equal up to rounding over a short horizon. The default
  # keeps the axis where XLA's CPU code is pinned to an instruction set (the book's runs, so
  # that stored trajectories are recomputed bit for bit) and drops it in an unpinned process.
  config = SpiralConfig(amplitude=70.0, period=50, steps=300, record_every=3, validation=True)
  lone = run_spiral(config, progress=False, run_axis=False)
  batched = run_spiral(config, progress=False, run_axis=True)
  monkeypatch.delenv("XLA_FLAGS", raising=False)
  unpinned = run_spiral(config, progress=False)
  monkeypatch.setenv("XLA_FLAGS", "--xla_cpu_max_isa=AVX2")  # read per call: the default's
  pinned = run_spiral(config, progress=False)  # choice only (this process's code is unchanged)
  for name in batched.history:
    np.testing.assert_allclose(lone.history[name], batched.history[name], rtol=1e-9)
    np.testing.assert_array_equal(unpinned.history[name], lone.history[name])
    np.testing.assert_array_equal(pinned.history[name],
                                  (batched if jax.default_backend() == "cpu" else lone).history[name])
  assert lone.final["val_accuracy"] == pytest.approx(batched.final["val_accuracy"])
  np.testing.assert_allclose(lone.params["params"]["Dense_1"]["kernel"],
                             batched.params["params"]["Dense_1"]["kernel"], rtol=1e-9)


def test_run_axis_false_needs_a_lone_run():
  configs = [SpiralConfig(steps=10, seed=s) for s in (0, 1)]
  with pytest.raises(ValueError, match=r"run_axis=False needs one run per device, got runs=2 on 1 device"):
    run_spiral_grid(configs, batch_size=2, progress=False, run_axis=False)


def test_a_probe_of_the_outputs_equals_one_that_recomputes_them():
  # reads="outputs" shares the recorded step's forward pass: the same values, bit for bit,
  # as a probe that applies the network to the training set again; NaN between measurements.
  x, y = data.spiral()
  module = models.mlp(16)
  params = module.init(jax.random.PRNGKey(0), x[:1])
  gamma_sum = lambda outputs, gamma: jnp.sum(outputs * gamma, axis=0)
  probes = {"again": training.Probe(lambda p, g: gamma_sum(module.apply(p, x), g), every=2),
            "shared": training.Probe(gamma_sum, every=2, reads="outputs")}
  result = training.gradient_descent(module.apply, params, x, y,
                                     schedules.triangle(5.0, 20, 3), learning_rate=1.0,
                                     steps=60, record_every=3, probes=probes)
  again, shared = result.history["again"][0], result.history["shared"][0]
  assert shared.shape == (20, 3) and np.isnan(shared[1::2]).all()
  assert np.isfinite(shared[::2]).all()
  np.testing.assert_array_equal(shared, again)
  with pytest.raises(ValueError, match=r"reads must be one of \('params', 'outputs'\), "
                                       r"got reads='logits'"):
    training.Probe(gamma_sum, reads="logits")
