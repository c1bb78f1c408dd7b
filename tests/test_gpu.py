"""The GPU-marked tests: what a GPU run must check (scripts/gpu_run.py runs them there).

At toy sizes (``DYNLOSS_GPU_SIZES=toy``, the default) they run on any machine, in the test
command; on the GPU the script runs them at full size.

Each comparison states its precision. On a GPU, JAX computes float32 convolutions and matrix
products in TF32 by default on recent NVIDIA GPUs (about 3 decimal digits), and its reductions
need not sum in the same order twice; so the float32 comparisons run under
``jax.default_matmul_precision("highest")`` (true float32), the spiral grid's in float64, and
each test also trains a *near miss* (the same run with one setting changed by a few percent)
and checks that the tolerance tells it apart: a test that a GPU's rounding cannot fail, and a
wrong implementation still fails.

Tolerances, from a measurement on a 2-core CPU at the toy sizes (4 optimiser steps; the GPU's
full size trains 32): the scan and the Python loop of one CIFAR run end with parameters 1.4e-7
apart (relative norm of the difference, largest parameter array), the run trained beside another
one (dynloss_lib.minibatch_many) 9.4e-7; the same run with its learning rate 10% higher ends
9.1e-2 apart (its amplitude 10% higher: 1.1e-2), another seed 1.5. So :data:`PARAMS_TOL` = 1e-3
leaves a factor of about 1,000 for a GPU's float32 rounding and lies a factor of 90 below the
near miss. A float64 spiral grid's loss history equals its single runs to 2.2e-16 relative
(2,000 steps); a run with amplitude and learning rate 1% off differs by 3.3e-4 to 3.3e-3.
"""

import os

import jax
import numpy as np
import pytest

from dynloss_lib import cifar, minibatch, minibatch_many
from dynloss_lib.experiments import SpiralConfig, run_spiral, run_spiral_grid

pytestmark = pytest.mark.gpu
FULL = os.environ.get("DYNLOSS_GPU_SIZES", "toy") == "full"
GRID, GRID_STEPS = (512, 2000) if FULL else (4, 60)
IMAGES, WIDTH, BATCH = (2048, 64, 128) if FULL else (16, 4, 8)
PARAMS_TOL = 1e-3
"""Largest relative gap (norm of the difference over the norm, per parameter array) between two
computations of the same run in float32 at the highest precision."""
LOSS_RTOL_FLOAT64 = 1e-9
"""Largest relative difference of a float64 spiral loss history computed two ways."""
HIGHEST = jax.default_matmul_precision("highest")


def _images(n):
  rng = np.random.default_rng(0)
  return cifar.CifarData(rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8),
                         (np.arange(n) % 10).astype(np.int32),
                         rng.integers(0, 256, (n // 4, 32, 32, 3), dtype=np.uint8),
                         (np.arange(n // 4) % 10).astype(np.int32))


def gap(a, b) -> float:
  """The largest relative gap between two parameter trees: max over arrays of |a - b| / |b|."""
  return max(float(np.linalg.norm(np.asarray(x, np.float64) - np.asarray(y, np.float64))
                   / np.linalg.norm(np.asarray(y, np.float64)))
             for x, y in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)))


CONFIG = minibatch.CifarConfig(width=WIDTH, batch_size=BATCH, epochs=2, amplitude=3.0, period=2,
                               learning_rate=0.02)


@pytest.fixture(scope="module")
def reference():
  """One CIFAR run (scan loop, highest precision) and its near miss (learning rate 10% higher)."""
  with HIGHEST:
    run = minibatch.train(CONFIG, _images(IMAGES), progress=False, loop="scan")
    near = minibatch.train(CONFIG.replace(learning_rate=0.022), _images(IMAGES), progress=False,
                           loop="scan")
  assert gap(near.state["params"], run.state["params"]) > 10 * PARAMS_TOL, (
      "the near miss is too close to the run for the tolerance to mean anything")
  return run


def test_cifar_scan_loop_equals_the_python_loop(reference):
  with HIGHEST:
    python = minibatch.train(CONFIG, _images(IMAGES), progress=False, loop="python")
  assert gap(python.state["params"], reference.state["params"]) < PARAMS_TOL
  np.testing.assert_allclose(python.history["train_loss"], reference.history["train_loss"],
                             rtol=1e-4)


def test_cifar_runs_trained_together_equal_a_run_trained_alone(reference):
  configs = [CONFIG.replace(seed=1), CONFIG, CONFIG.replace(amplitude=1.0, seed=2)]
  with HIGHEST:
    together = minibatch_many.train_many(configs, _images(IMAGES), progress=False)
  assert gap(together[1].state["params"], reference.state["params"]) < PARAMS_TOL
  assert gap(together[0].state["params"], reference.state["params"]) > 10 * PARAMS_TOL


def test_bfloat16_stays_finite_and_close_to_float32(reference):
  half = minibatch.train(CONFIG.replace(dtype="bfloat16"), _images(IMAGES), progress=False)
  assert np.isfinite(half.history["train_loss"]).all()
  assert np.isfinite(half.history["test_loss"]).all()
  # bfloat16 keeps 3 significant digits: the losses of 2 epochs agree to a few percent
  np.testing.assert_allclose(half.history["train_loss"], reference.history["train_loss"],
                             rtol=0.05)


def test_a_vmapped_grid_equals_single_runs():
  # float64 and a learning rate of 0.2 (stable GD, not the chaotic regime): the comparison
  # checks the vmapping, not how a chaotic run magnifies rounding
  configs = [SpiralConfig(width=16, steps=GRID_STEPS, amplitude=1.0 + i % 7, period=50 + i % 5,
                          seed=i, record_every=GRID_STEPS // 4, learning_rate=0.2)
             for i in range(GRID)]
  grid = run_spiral_grid(configs, batch_size=GRID, progress=False)
  for i in sorted({0, GRID // 2, GRID - 1}):
    single = run_spiral(configs[i], progress=False)
    np.testing.assert_allclose(grid[i].history["loss"], single.history["loss"],
                               rtol=LOSS_RTOL_FLOAT64)
    near = run_spiral(configs[i].replace(amplitude=configs[i].amplitude * 1.01 + 0.01,
                                         learning_rate=0.202), progress=False)
    assert np.max(np.abs(near.history["loss"] / single.history["loss"] - 1)) > 1e3 * (
        LOSS_RTOL_FLOAT64)
