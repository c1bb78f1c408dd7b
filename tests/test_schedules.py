"""Gamma schedules against a step-by-step re-implementation of the reference loop."""

import numpy as np
import pytest

from dynloss_lib import schedules


def reference_gammas(amplitude, period, num_classes, steps, start_mid=False, static_from=None):
  """The authors' stateful loop: a phase counter 0..T that resets, the class advancing."""
  phase = period // 2 if start_mid else 0
  emphasised = 0
  out = []
  for step in range(steps):
    if static_from is not None and step >= static_from:
      raw = 1.0
    elif phase < period / 2:
      raw = 1 + 2 * (amplitude - 1) * phase / period
    else:
      raw = 2 * amplitude - 1 - 2 * (amplitude - 1) * phase / period
    weights = np.ones(num_classes)
    weights[emphasised] = raw
    out.append(num_classes * weights / weights.sum())
    phase += 1
    if phase > period:
      phase, emphasised = 0, (emphasised + 1) % num_classes
  return np.array(out)


@pytest.mark.parametrize("amplitude,period,num_classes,start_mid,static_from", [
    (70.0, 10, 3, False, None), (70.0, 11, 3, True, None), (5.0, 7, 4, False, 20),
    (2.5, 1, 2, False, None), (1.0, 6, 3, False, None)])
def test_triangle_matches_reference_loop(amplitude, period, num_classes, start_mid, static_from):
  schedule = schedules.triangle(amplitude, period, num_classes, start_mid=start_mid,
                                static_from=static_from)
  steps = 5 * (period + 1) + 3
  got = np.stack([np.asarray(schedule(step)) for step in range(steps)])
  np.testing.assert_allclose(got, reference_gammas(amplitude, period, num_classes, steps,
                                                   start_mid, static_from), rtol=1e-14)


def test_exact_values_at_cycle_boundaries():
  schedule = schedules.triangle(70.0, 5000, 3)
  np.testing.assert_array_equal(schedule(0), [1.0, 1.0, 1.0])
  np.testing.assert_array_equal(schedule(5000), [1.0, 1.0, 1.0])   # last step of cycle 0
  np.testing.assert_array_equal(schedule(5001), [1.0, 1.0, 1.0])   # first step of cycle 1
  np.testing.assert_allclose(schedule(2500), [3 * 70 / 72, 3 / 72, 3 / 72], rtol=1e-15)
  np.testing.assert_allclose(schedule(5001 + 2500), [3 / 72, 3 * 70 / 72, 3 / 72], rtol=1e-15)
  np.testing.assert_allclose(schedule(3 * 5001 + 2500), [3 * 70 / 72, 3 / 72, 3 / 72],
                             rtol=1e-15)
  # one step into cycle 0: raw weight 1 + 2 * 69 / 5000
  raw = 1 + 2 * 69 / 5000
  np.testing.assert_allclose(schedule(1), [3 * raw / (raw + 2), 3 / (raw + 2), 3 / (raw + 2)],
                             rtol=1e-15)


@pytest.mark.parametrize("factory", [schedules.triangle, schedules.sine, schedules.square])
def test_invariants(factory):
  amplitude, period, num_classes = 30.0, 40, 3
  schedule = factory(amplitude, period, num_classes)
  for step in range(0, 3 * (period + 1)):
    gamma = np.asarray(schedule(step))
    assert gamma.sum() == pytest.approx(num_classes, rel=1e-14)
    assert (gamma > 0).all()
    emphasised = (step // (period + 1)) % num_classes
    others = np.delete(gamma, emphasised)
    np.testing.assert_allclose(others, others[0])
    raw = gamma[emphasised] / others[0]   # the ratio is the raw weight, between 1 and A
    assert 1 - 1e-12 <= raw <= amplitude + 1e-12
  peak = np.asarray(schedule(period // 2))
  assert peak[0] / peak[1] == pytest.approx(amplitude)


def test_amplitude_one_is_constant():
  for factory in (schedules.triangle, schedules.sine, schedules.square):
    schedule = factory(1.0, 9, 3)
    for step in range(30):
      np.testing.assert_array_equal(schedule(step), schedules.constant(3)(step))


def test_square_and_sine_shapes():
  square = schedules.square(4.0, 100, 2)
  assert float(square(24)[0]) == 1.0 and float(square(25)[0]) == pytest.approx(1.6)
  assert float(square(74)[0]) == pytest.approx(1.6) and float(square(75)[0]) == 1.0
  sine = schedules.sine(4.0, 100, 2)
  np.testing.assert_allclose(sine(25), [2 * 2.5 / 3.5, 2 / 3.5], rtol=1e-14)


def test_static_from_and_last_cycle_start():
  assert schedules.last_cycle_start(70_000, 5000) == 65013
  assert schedules.last_cycle_start(10, 3) == 8
  schedule = schedules.triangle(70.0, 5000, 3, static_from=65013)
  np.testing.assert_array_equal(schedule(65013 + 2500), [1.0, 1.0, 1.0])
  # before the static start, cycle 12 (class 0) is at its peak: raw weight A for class 0
  np.testing.assert_allclose(schedule(12 * 5001 + 2500), [3 * 70 / 72, 3 / 72, 3 / 72],
                             rtol=1e-14)


def test_last_cycle_start_with_start_mid():
  # Cycles start mid-way: resets (phase 0) at steps 5001 k - 2500; the first at or after
  # 65,000 is k = 14, step 67,514 (k = 13 gives 62,513).
  start = schedules.last_cycle_start(70_000, 5000, start_mid=True)
  assert start == 67514
  phase, _ = schedules.phase_and_class(start, 5000, 3, phase_offset=2500)
  assert int(phase) == 0
  assert int(schedules.phase_and_class(start - 1, 5000, 3, phase_offset=2500)[0]) == 5000
  from dynloss_lib.experiments import SpiralConfig
  config = SpiralConfig(start_mid=True, last_cycle_static=True)
  assert config.static_from == 67514
  assert SpiralConfig(last_cycle_static=True).static_from == 65013


def test_traceable_under_jit_and_vmap():
  import jax
  import jax.numpy as jnp
  weights = jax.jit(jax.vmap(lambda a, t: schedules.periodic_weights(7, a, t, 3)))(
      jnp.array([1.0, 70.0]), jnp.array([10, 14]))
  np.testing.assert_allclose(weights[1], schedules.triangle(70.0, 14, 3)(7))
  np.testing.assert_array_equal(weights[0], [1.0, 1.0, 1.0])


@pytest.mark.parametrize("kwargs,message", [
    (dict(amplitude=0.5, period=10, num_classes=3), "amplitude=0.5"),
    (dict(amplitude=float("nan"), period=10, num_classes=3), "amplitude=nan"),
    (dict(amplitude=2.0, period=0, num_classes=3), "period=0"),
    (dict(amplitude=2.0, period=2.5, num_classes=3), "period=2.5"),
    (dict(amplitude=2.0, period=10, num_classes=1), "num_classes=1"),
    (dict(amplitude=2.0, period=10, num_classes=3, static_from=-1), "static_from=-1"),
])
def test_bad_arguments(kwargs, message):
  with pytest.raises(ValueError, match=message):
    schedules.triangle(**kwargs)


def test_constant_rejects_one_class():
  with pytest.raises(ValueError, match="num_classes=1"):
    schedules.constant(1)
