"""The GPU-marked tests: what a GPU run must check (scripts/gpu_run.py runs them there).

At toy sizes (``DYNLOSS_GPU_SIZES=toy``, the default) they run on any machine, in the test
command; on the GPU the script runs them at full size.
"""

import os

import jax
import numpy as np
import pytest

from dynloss_lib import cifar, minibatch
from dynloss_lib.experiments import SpiralConfig, run_spiral, run_spiral_grid

pytestmark = pytest.mark.gpu
FULL = os.environ.get("DYNLOSS_GPU_SIZES", "toy") == "full"
GRID, GRID_STEPS = (512, 2000) if FULL else (4, 60)
IMAGES, WIDTH, BATCH = (2048, 64, 128) if FULL else (16, 4, 8)


def _images(n):
  rng = np.random.default_rng(0)
  return cifar.CifarData(rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8),
                         (np.arange(n) % 10).astype(np.int32),
                         rng.integers(0, 256, (n // 4, 32, 32, 3), dtype=np.uint8),
                         (np.arange(n // 4) % 10).astype(np.int32))


def test_cifar_scan_loop_equals_the_python_loop():
  config = minibatch.CifarConfig(width=WIDTH, batch_size=BATCH, epochs=2, amplitude=3.0,
                                 period=2, learning_rate=0.02)
  scan = minibatch.train(config, _images(IMAGES), progress=False, loop="scan")
  python = minibatch.train(config, _images(IMAGES), progress=False, loop="python")
  np.testing.assert_allclose(scan.history["train_loss"], python.history["train_loss"],
                             rtol=1e-4)
  for a, b in zip(jax.tree_util.tree_leaves(scan.state["params"]),
                  jax.tree_util.tree_leaves(python.state["params"])):
    np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-5)


def test_bfloat16_stays_finite_and_close_to_float32():
  config = minibatch.CifarConfig(width=WIDTH, batch_size=BATCH, epochs=2, amplitude=3.0,
                                 period=2, learning_rate=0.02)
  full = minibatch.train(config, _images(IMAGES), progress=False)
  half = minibatch.train(config.replace(dtype="bfloat16"), _images(IMAGES), progress=False)
  assert np.isfinite(half.history["train_loss"]).all()
  assert np.isfinite(half.history["test_loss"]).all()
  np.testing.assert_allclose(half.history["train_loss"], full.history["train_loss"], rtol=0.05)


def test_a_vmapped_grid_equals_single_runs():
  configs = [SpiralConfig(width=16, steps=GRID_STEPS, dtype="float32", amplitude=1.0 + i % 7,
                          period=50 + i % 5, seed=i, record_every=GRID_STEPS // 4)
             for i in range(GRID)]
  grid = run_spiral_grid(configs, batch_size=GRID, progress=False)
  for i in sorted({0, GRID // 2, GRID - 1}):
    single = run_spiral(configs[i], progress=False)
    np.testing.assert_allclose(grid[i].history["loss"], single.history["loss"], rtol=1e-4)
    assert grid[i].final["train_accuracy"] == pytest.approx(single.final["train_accuracy"],
                                                            abs=1 / 300 + 1e-9)
