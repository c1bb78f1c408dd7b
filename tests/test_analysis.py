"""Tests of dynloss_lib.analysis: Lanczos vs dense Hessians, the NTK, probes, onsets."""

import functools
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree

from dynloss_lib import analysis, data, losses, models, schedules, training
from dynloss_book import landscape
from dynloss_book import onsets as onset_analysis
from dynloss_lib.experiments import SpiralConfig, run_spiral


def _spiral_problem(width, seed=0, step=2000):
  x, y = data.spiral()
  x = jnp.asarray(x)
  module = models.mlp(width)
  params = module.init(jax.random.PRNGKey(seed), x[:1])
  # leave the initialisation (zero biases) so that every parameter direction matters
  leaves, tree = jax.tree_util.tree_flatten(params)
  keys = jax.random.split(jax.random.PRNGKey(seed + 100), len(leaves))
  params = jax.tree_util.tree_unflatten(
      tree, [p + 0.3 * jax.random.normal(k, p.shape, p.dtype) for p, k in zip(leaves, keys)])
  gamma = schedules.triangle(70.0, 5000, 3)(step)
  loss_fn = lambda p: losses.dynamical_cross_entropy(module.apply(p, x), jnp.asarray(y), gamma)
  return module, params, x, y, gamma, loss_fn


def _dense_eigenvalues(loss_fn, params):
  flat, unravel = ravel_pytree(params)
  hessian = jax.hessian(lambda w: loss_fn(unravel(w)))(flat)
  return np.linalg.eigvalsh(np.asarray(hessian))[::-1]


def test_hvp_matches_dense_hessian():
  _, params, *_, loss_fn = _spiral_problem(width=5)
  flat, unravel = ravel_pytree(params)
  hessian = jax.hessian(lambda w: loss_fn(unravel(w)))(flat)
  vector = jax.random.normal(jax.random.PRNGKey(1), flat.shape, flat.dtype)
  product, _ = ravel_pytree(analysis.hessian_vector_product(loss_fn, params, unravel(vector)))
  np.testing.assert_allclose(product, hessian @ vector, rtol=1e-10, atol=1e-12)


def test_full_order_lanczos_gives_every_dense_eigenvalue():
  _, params, *_, loss_fn = _spiral_problem(width=4)
  dense = _dense_eigenvalues(loss_fn, params)
  size = dense.size  # 2*4 + 4 + 4*3 + 3 = 27
  assert size == 27
  ritz = np.asarray(analysis.hessian_top_eigenvalues(loss_fn, params, order=size, count=size))
  assert np.max(np.abs(ritz - dense)) <= 1e-6 * np.max(np.abs(dense))


@pytest.mark.parametrize("step", [0, 2500, 4000])
def test_top_eigenvalues_match_dense_on_the_spiral_mlp(step):
  _, params, *_, loss_fn = _spiral_problem(width=10, step=step)
  dense = _dense_eigenvalues(loss_fn, params)
  top = np.asarray(analysis.hessian_top_eigenvalues(loss_fn, params, order=25, count=2))
  np.testing.assert_allclose(top, dense[:2], rtol=1e-6)


def test_ritz_values_never_exceed_the_top_eigenvalue():
  _, params, *_, loss_fn = _spiral_problem(width=10)
  dense = _dense_eigenvalues(loss_fn, params)
  for order in (2, 5, 10):
    ritz = analysis.hessian_top_eigenvalues(loss_fn, params, order=order)[0]
    assert ritz <= dense[0] * (1 + 1e-12)
    assert ritz >= dense[-1]


def test_lanczos_survives_an_invariant_start_vector():
  # the start vector is an eigenvector: the Krylov space breaks down after one step
  matrix = jnp.diag(jnp.array([5.0, 3.0, 1.0, -1.0]))
  ritz = analysis.lanczos_eigenvalues(lambda v: matrix @ v, jnp.array([1.0, 0, 0, 0]), order=4)
  np.testing.assert_allclose(np.sort(np.asarray(ritz)), [-1.0, 1.0, 3.0, 5.0], atol=1e-12)


@pytest.mark.parametrize("order", [1, 0, 28])
def test_bad_lanczos_order(order):
  _, params, *_, loss_fn = _spiral_problem(width=4)
  with pytest.raises(ValueError, match=f"order={order}"):
    analysis.hessian_top_eigenvalues(loss_fn, params, order=order)


def test_lanczos_order_above_parameter_count_names_the_count():
  _, params, *_, loss_fn = _spiral_problem(width=4)
  with pytest.raises(ValueError, match="dimension 27"):
    analysis.hessian_top_eigenvalues(loss_fn, params, order=28)


def test_ntk_matches_explicit_jacobian_contraction():
  module, params, x, *_ = _spiral_problem(width=6)
  subset = x[:7]
  jacobian = jax.jacobian(lambda p: module.apply(p, subset))(params)
  flat_jac = jnp.concatenate([leaf.reshape(7, 3, -1)
                              for leaf in jax.tree_util.tree_leaves(jacobian)], axis=-1)
  full = jnp.einsum("iap,jbp->iajb", flat_jac, flat_jac).reshape(21, 21)
  np.testing.assert_allclose(analysis.empirical_ntk(module.apply, params, subset, False), full,
                             rtol=1e-12, atol=1e-12)
  traced = np.einsum("iaja->ij", np.asarray(full).reshape(7, 3, 7, 3)) / 3
  ours = analysis.empirical_ntk(module.apply, params, subset)
  np.testing.assert_allclose(ours, traced, rtol=1e-12, atol=1e-12)
  assert ours.shape == (7, 7)
  assert np.min(np.linalg.eigvalsh(np.asarray(ours))) > -1e-10 * np.max(np.asarray(ours))
  np.testing.assert_allclose(analysis.ntk_top_eigenvalue(module.apply, params, subset),
                             np.linalg.eigvalsh(traced)[-1], rtol=1e-12)


def test_lanczos_at_full_order_on_a_rank_deficient_operator():
  # rank 3 in dimension 10: once the Krylov space is exhausted, what is left of
  # B^T (B v) is rounding noise, which must count as a breakdown, not a direction
  b = jnp.asarray(np.random.default_rng(0).standard_normal((3, 10)))
  ritz = analysis.lanczos_eigenvalues(lambda v: (b @ v) @ b, jnp.ones(10), order=10)
  dense = np.linalg.eigvalsh(np.asarray(b.T @ b))[::-1]
  assert np.max(np.abs(np.asarray(ritz) - dense)) <= 1e-12 * dense[0]


@pytest.mark.parametrize("points,trace_outputs,order", [(7, True, 7), (7, True, 30),
                                                        (4, False, 12), (7, False, 21)])
def test_ntk_lanczos_is_exact_at_the_kernel_size(points, trace_outputs, order):
  # (7, False, 21): a 21 x 21 kernel of rank 7 from a width-6 MLP
  module, params, x, *_ = _spiral_problem(width=6)
  kernel = analysis.empirical_ntk(module.apply, params, x[:points], trace_outputs)
  top = analysis.ntk_top_eigenvalue(module.apply, params, x[:points], trace_outputs, order)
  np.testing.assert_allclose(top, np.linalg.eigvalsh(np.asarray(kernel))[-1], rtol=1e-12)


def test_ntk_lanczos_matches_dense_on_the_fig4_subset():
  # the Fig. 4 run after 1,500 steps: first 50 points, width 100, the probe's order 6
  run = run_spiral(landscape.FIG4.replace(steps=1500), progress=False)
  module, x = models.mlp(100), jnp.asarray(data.spiral()[0][:50])
  params = jax.tree_util.tree_map(jnp.asarray, run.params)
  dense = float(analysis.ntk_top_eigenvalue(module.apply, params, x))
  lanczos = float(analysis.ntk_top_eigenvalue(module.apply, params, x, order=6))
  assert dense * (1 - 1e-12) <= lanczos <= dense * (1 + 1e-14)  # a lower bound, to rounding
  coarse = float(analysis.ntk_top_eigenvalue(module.apply, params, x, order=4))
  assert 1e-9 < 1 - coarse / dense < 1e-6  # four steps are not enough: the test can tell
  # the full kernel's top eigenvalues nearly coincide over the outputs: more steps
  full = analysis.ntk_top_eigenvalue(module.apply, params, x, trace_outputs=False)
  np.testing.assert_allclose(analysis.ntk_top_eigenvalue(module.apply, params, x, False, 14),
                             full, rtol=1e-10)
  probe = analysis.ntk_probe(module.apply, x)
  np.testing.assert_allclose(probe.fn(params, None), lanczos, rtol=1e-15)


def test_ntk_top_eigenvalue_of_one_point_and_bad_orders():
  module, params, x, *_ = _spiral_problem(width=3)
  one = analysis.ntk_top_eigenvalue(module.apply, params, x[:1], order=6)
  np.testing.assert_allclose(one, analysis.empirical_ntk(module.apply, params, x[:1])[0, 0],
                             rtol=1e-14)
  for order in (1, 0, 2.0, True):
    with pytest.raises(ValueError, match=f"order={order!r}"):
      analysis.ntk_top_eigenvalue(module.apply, params, x[:5], order=order)
    with pytest.raises(ValueError, match=f"order={order!r}"):
      analysis.ntk_probe(module.apply, x[:5], order=order)
  assert analysis.ntk_probe(module.apply, x[:5], order=None).every == 1


def test_empty_ntk_subset():
  module, params, x, *_ = _spiral_problem(width=3)
  with pytest.raises(ValueError, match=r"shape \(0, 2\)"):
    analysis.empirical_ntk(module.apply, params, x[:0])
  with pytest.raises(ValueError, match="subset is empty"):
    analysis.ntk_probe(module.apply, x[:0])


@pytest.mark.parametrize("every", [0, -3])
def test_measurement_interval_below_one(every):
  module, _, x, y, *_ = _spiral_problem(width=3)
  with pytest.raises(ValueError, match=f"every={every}"):
    analysis.hessian_probe(module.apply, x, y, every=every)
  with pytest.raises(ValueError, match=f"every={every}"):
    analysis.ntk_probe(module.apply, x[:5], every=every)
  with pytest.raises(ValueError, match=f"hessian_every={every}"):
    landscape.Measurements(hessian_every=every)


def test_hessian_probe_order_below_two():
  module, _, x, y, *_ = _spiral_problem(width=3)
  with pytest.raises(ValueError, match="order=1"):
    analysis.hessian_probe(module.apply, x, y, order=1)


def test_probes_inside_the_scan_equal_direct_measurements():
  config = SpiralConfig(width=12, amplitude=70.0, period=50, steps=40)
  result, _ = landscape.run_measured(
      config, landscape.Measurements(hessian_every=10, hessian_order=12,
                                                 ntk_points=9, ntk_every=3), progress=False)
  history = {k: v[0] for k, v in result.history.items()}
  # replay the same GD outside the scan and measure directly at steps 0, 10, 20, 30
  x, y = data.spiral()
  x = jnp.asarray(x)
  module = models.mlp(12)
  params = module.init(jax.random.PRNGKey(0), jnp.zeros((1, 2)))
  schedule = schedules.triangle(70.0, 50, 3)
  grad = jax.jit(jax.grad(lambda p, g: losses.dynamical_cross_entropy(module.apply(p, x),
                                                                      jnp.asarray(y), g)))
  for step in range(31):
    gamma = schedule(step)
    if step % 10 == 0:
      loss_fn = lambda p: losses.dynamical_cross_entropy(module.apply(p, x), jnp.asarray(y),
                                                         gamma)
      expected = analysis.hessian_top_eigenvalues(loss_fn, params, order=12)[0]
      np.testing.assert_allclose(history["hessian_max"][step], expected, rtol=1e-8)
    if step % 3 == 0:
      expected = analysis.ntk_top_eigenvalue(module.apply, params, x[:9])
      np.testing.assert_allclose(history["ntk_max"][step], expected, rtol=1e-8)
    np.testing.assert_allclose(
        history["class_losses"][step],
        analysis.class_losses(module.apply, params, x, jnp.asarray(y), 3), rtol=1e-8)
    params = jax.tree_util.tree_map(lambda p, g: p - g, params, grad(params, gamma))
  measured = np.isfinite(history["hessian_max"])
  assert np.flatnonzero(measured).tolist() == [0, 10, 20, 30]
  assert np.flatnonzero(np.isfinite(history["ntk_max"])).tolist() == list(range(0, 40, 3))
  # F = Gamma . L at every step
  np.testing.assert_allclose(np.sum(history["gamma"] * history["class_losses"], axis=1),
                             history["loss"], rtol=1e-12)


def _quadratic_gd(curvature, learning_rate, steps=20):
  """GD on L(w) = curvature * w^2 / 2 from w = 1; one 'class' with weight 1."""
  w, values = 1.0, []
  for _ in range(steps):
    values.append([0.5 * curvature * w * w])
    w -= learning_rate * curvature * w
  return np.array(values), np.ones((steps, 1))


def test_onset_definition_on_a_quadratic():
  # stable: curvature below 2/lr, the loss decreases at every step
  change = onset_analysis.fixed_gamma_loss_change(*_quadratic_gd(curvature=1.9, learning_rate=1.0))
  assert np.all(change < 0)
  assert onset_analysis.instability_onsets(change, cycle_length=100, quiet=0).tolist() == [-1]
  # unstable: curvature above 2/lr, the first step already increases the loss
  change = onset_analysis.fixed_gamma_loss_change(*_quadratic_gd(curvature=2.1, learning_rate=1.0))
  assert np.all(change > 0)
  assert onset_analysis.instability_onsets(change, cycle_length=100, quiet=0).tolist() == [0]


def test_onset_needs_a_quiet_stretch_and_respects_cycles():
  change = -np.ones(30)
  change[0:3] = 1.0  # a burst that runs on from before the run: not an onset with quiet=2
  change[12] = 1.0
  change[25:27] = 1.0
  onsets = onset_analysis.instability_onsets(change, cycle_length=10, quiet=2)
  assert onsets.tolist() == [-1, 12, 25]
  assert onset_analysis.instability_onsets(change, 10, quiet=2, last_step=20).tolist() == [-1, 12]
  # round-off-sized increases do not count
  small = -np.ones(10)
  small[5] = 1e-9
  assert onset_analysis.instability_onsets(small, 10, quiet=1).tolist() == [-1]


def test_bad_onset_arguments():
  with pytest.raises(ValueError, match="cycle_length=0"):
    onset_analysis.instability_onsets(np.zeros(3), cycle_length=0)
  with pytest.raises(ValueError, match="quiet=-1"):
    onset_analysis.instability_onsets(np.zeros(3), cycle_length=2, quiet=-1)
  with pytest.raises(ValueError, match=r"shapes \(3, 2\) and \(3, 3\)"):
    onset_analysis.fixed_gamma_loss_change(np.zeros((3, 2)), np.zeros((3, 3)))


def test_ntk_drops():
  ntk = np.full(3000, 100.0)
  ntk[1500:1700] = 40.0
  drops, control = landscape.ntk_drops(np.arange(3000), ntk, ntk, [1500, -1],
                                                   after=500, control_shift=1000)
  np.testing.assert_allclose(drops, [0.6])
  np.testing.assert_allclose(control, [0.0])
  # binned: the same answer from bin minima and maxima
  steps = np.arange(0, 3000, 10)
  binned = ntk.reshape(300, 10)
  drops_binned, _ = landscape.ntk_drops(steps, binned.min(1), binned.max(1), [1500],
                                                    after=500, control_shift=1000)
  np.testing.assert_allclose(drops_binned, drops)
  # a window that leaves the run gives NaN
  assert np.isnan(landscape.ntk_drops(np.arange(3000), ntk, ntk, [2900])[0][0])


def test_instability_onsets_first_step_ignores_earlier_steps():
  change = -np.ones(15)
  change[[2, 3, 5, 9, 10]] = 1.0
  # From step 3 on, step 3 follows an unstable step (not an onset with quiet=1); step 5 is
  # the first onset found in cycle 1, none in cycle 0.
  assert onset_analysis.instability_onsets(change, 5, quiet=1, first_step=3).tolist() == [-1, 5, -1]
  # From step 6: cycle 1's onset becomes step 9 (quiet=2 needs two stable steps before it).
  assert onset_analysis.instability_onsets(change, 5, quiet=2, first_step=6).tolist() == [-1, 9, -1]
  # first_step past everything: no onsets, one entry per cycle
  assert onset_analysis.instability_onsets(change, 5, quiet=0, first_step=15).tolist() == [-1] * 3


def test_measured_run_trains_and_measures_the_configured_loss():
  # A dynamical MSE run measured in the loop follows the same trajectory as the plain run of
  # that loss (and not the cross-entropy's), and its Hessian is that of the MSE.
  config = SpiralConfig(width=6, amplitude=5.0, period=20, steps=30, loss="dmse_output")
  measured, _ = landscape.run_measured(
      config, landscape.Measurements(hessian_every=10, ntk_points=0, class_losses=False),
      progress=False)
  from dynloss_lib.experiments import run_spiral
  plain = run_spiral(config, progress=False)
  np.testing.assert_allclose(measured.history["loss"][0], plain.history["loss"], rtol=1e-12)
  ce = run_spiral(config.replace(loss="cross_entropy"), progress=False)
  assert not np.allclose(plain.history["loss"], ce.history["loss"])
  # the class losses decompose any dynamical loss: F = sum_c Gamma_c L_c at every step
  measured, _ = landscape.run_measured(
      config, landscape.Measurements(hessian_every=10, ntk_points=0), progress=False)
  history = measured.history
  np.testing.assert_allclose((history["gamma"][0] * history["class_losses"][0]).sum(-1),
                             history["loss"][0], rtol=1e-12)


def test_closed_form_mlp_kernel_equals_the_empirical_ntk():
  x, _ = data.spiral()
  x = jnp.asarray(x[:40])
  module = models.mlp(30)
  params = module.init(jax.random.PRNGKey(2), x[:1])
  # away from the zero-bias initialisation, so that every term of the formula matters
  params = jax.tree_util.tree_map(
      lambda a: a + 0.2 * jax.random.normal(jax.random.PRNGKey(5), a.shape), params)
  generic = analysis.empirical_ntk(module.apply, params, x)
  np.testing.assert_allclose(models.mlp_ntk(module, params, x), generic, rtol=1e-12, atol=1e-12)
  kernel_fn = functools.partial(models.mlp_ntk, module)
  fast = analysis.ntk_probe(module.apply, x, kernel_fn=kernel_fn).fn(params, None)
  dense = jnp.linalg.eigvalsh(generic)[-1]
  assert abs(float(fast) / float(dense) - 1) < 1e-8
  with pytest.raises(ValueError, match="the biased MLP, got use_bias=False"):
    bias_free = models.mlp(30, use_bias=False)
    models.mlp_ntk(bias_free, bias_free.init(jax.random.PRNGKey(0), x[:1]), x)
  with pytest.raises(ValueError, match="trace_outputs=False"):
    analysis.ntk_probe(module.apply, x, kernel_fn=kernel_fn, trace_outputs=False)
