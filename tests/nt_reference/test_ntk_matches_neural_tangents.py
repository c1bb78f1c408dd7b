"""The library's empirical NTK equals neural-tangents' (float64, relative 1e-8).

Runs only in the pinned environment of requirements-nt.txt (scripts/run_nt_tests.sh).
neural_tangents is imported unconditionally: if it cannot be imported, this module
fails to collect and the run FAILS (it never skips).
"""

import importlib.metadata

import jax
import jax.numpy as jnp
import neural_tangents as nt
import numpy as np
import pytest

from dynloss_lib import analysis, data, models

jax.config.update("jax_enable_x64", True)


def _setup(width, seed):
  x, _ = data.spiral()
  x = jnp.asarray(x[:50])  # the Fig. 4 subset: the first 50 points, all of class 0
  module = models.mlp(width)
  params = module.init(jax.random.PRNGKey(seed), x[:1])
  # move away from the initialisation (non-zero biases) so every parameter matters
  params = jax.tree_util.tree_map(
      lambda p, k: p + 0.1 * jax.random.normal(k, p.shape, p.dtype), params,
      jax.tree_util.tree_unflatten(jax.tree_util.tree_structure(params),
                                   list(jax.random.split(jax.random.PRNGKey(seed + 1),
                                                         len(jax.tree_util.tree_leaves(params))))))
  return module, params, x


def _relative_error(a, b):
  return float(np.max(np.abs(np.asarray(a) - np.asarray(b))) / np.max(np.abs(np.asarray(b))))


def test_versions_are_the_pinned_ones():
  assert importlib.metadata.version("neural-tangents") == "0.6.5"
  assert jax.__version__ == "0.5.3"


@pytest.mark.parametrize("width,seed", [(100, 0), (7, 3)])
def test_traced_ntk_matches(width, seed):
  module, params, x = _setup(width, seed)
  reference = nt.empirical_ntk_fn(module.apply, trace_axes=(-1,), vmap_axes=0)(x, None, params)
  ours = analysis.empirical_ntk(module.apply, params, x, trace_outputs=True)
  assert reference.shape == ours.shape == (50, 50)
  assert reference.dtype == ours.dtype == jnp.float64
  assert _relative_error(ours, reference) <= 1e-8


@pytest.mark.parametrize("width,seed", [(100, 0), (7, 3)])
def test_full_ntk_matches(width, seed):
  module, params, x = _setup(width, seed)
  reference = nt.empirical_ntk_fn(module.apply, trace_axes=(), vmap_axes=0)(x, None, params)
  assert reference.shape == (50, 50, 3, 3)
  reference = jnp.transpose(reference, (0, 2, 1, 3)).reshape(150, 150)
  ours = analysis.empirical_ntk(module.apply, params, x, trace_outputs=False)
  assert _relative_error(ours, reference) <= 1e-8


def test_top_eigenvalue_matches():
  module, params, x = _setup(100, 0)
  reference = nt.empirical_ntk_fn(module.apply, trace_axes=(-1,), vmap_axes=0)(x, None, params)
  ours = analysis.ntk_top_eigenvalue(module.apply, params, x)
  assert abs(float(ours) - float(np.linalg.eigvalsh(reference)[-1])) <= 1e-8 * float(ours)
