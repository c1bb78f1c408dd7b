r"""Curvature during training for the dynamical-MSE study (the chapter "Dynamical mean-squared error").

Part 6 of the design of :mod:`dynloss_book.mse`, fixed with it: the
largest eigenvalue of the Hessian of the loss each run descends, at width
:data:`CURVATURE_WIDTH`, every 100 steps (Lanczos order 10), for the arms
:data:`CURVATURE_ARMS` on :data:`CURVATURE_SEEDS`, over :data:`CURVATURE_STEPS`
steps (4 cycles, for cost; no static last cycle). The MSE family trains with the
study's settled rate at that width, the cross-entropy with 1.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from dynloss_lib import provenance
from dynloss_book import store
from dynloss_lib.experiments import SpiralConfig
from dynloss_book import mse
from dynloss_book.landscape import Measurements, measured_final, run_measured

CURVATURE_WIDTH = 100
CURVATURE_SEEDS = tuple(range(10))
CURVATURE_STEPS = 20_000
CURVATURE_PERIOD = 5000
CURVATURE_MEASUREMENTS = Measurements(hessian_every=100, hessian_order=10, ntk_points=0,
                                      class_losses=False)
CURVATURE_ARMS = (("static MSE", mse.STATIC_MSE, 1.0), ("dmse_sample A=70", "dmse_sample", 70.0),
                  ("dmse_output A=70", "dmse_output", 70.0), ("static CE", "cross_entropy", 1.0),
                  ("dynamical CE A=70", "cross_entropy", 70.0))
"""(label, loss, A) of the curvature runs (T = 5000)."""


@dataclasses.dataclass
class Curvature:
  """The curvature runs (see :func:`mse_curvature`).

  Attributes: ``labels`` and ``losses`` of :data:`CURVATURE_ARMS`, ``learning_rates``
  ``(arms,)``, ``seeds``, the measured ``steps`` ``(M,)``, ``hessian`` ``(arms, seeds, M)``
  (NaN after a divergence), and ``(arms, seeds)`` final ``train`` accuracy, ``diverged``
  and ``wall_seconds``.
  """
  labels: tuple
  losses: tuple
  learning_rates: np.ndarray
  seeds: tuple
  steps: np.ndarray
  hessian: np.ndarray
  train: np.ndarray
  diverged: np.ndarray
  wall_seconds: np.ndarray

  def ratio_medians(self) -> np.ndarray:
    r"""Per arm: the median of :math:`\lambda_{\max} / (2/\eta)` over the second half
    of the run, all seeds pooled."""
    late = self.steps >= CURVATURE_STEPS // 2
    ratio = self.hessian / (2.0 / self.learning_rates[:, None, None])
    return np.array([np.nanmedian(r[:, late]) for r in ratio])


def curvature_config(loss: str, amplitude: float, seed: int, eta: float) -> SpiralConfig:
  """One curvature run: width 100, T = 5000, 20,000 steps, every step recorded.

  Examples:
    >>> config = curvature_config("dmse_output", 70.0, 3, 0.361)
    >>> config.steps, config.record_every, config.last_cycle_static, config.learning_rate
    (20000, 1, False, 0.361)
  """
  return SpiralConfig(width=CURVATURE_WIDTH, amplitude=float(amplitude), period=CURVATURE_PERIOD,
                      steps=CURVATURE_STEPS, learning_rate=eta, seed=seed, loss=loss,
                      record_every=1)


def curvature_key(config: SpiralConfig) -> dict:
  """The stored key of a curvature run: the run and the measurement settings."""
  return {"run": config.to_dict(), "measurements": dataclasses.asdict(CURVATURE_MEASUREMENTS)}


def curvature_run(directory, config: SpiralConfig, recompute: bool = False,
                  progress: bool = True) -> store.Record:
  """One curvature run, stored as a ``"mse-curvature"`` :class:`~dynloss_book.store.Record`.

  Arrays: ``hessian_step`` and ``hessian_max`` (every measurement; NaN after a
  divergence), ``train_accuracy`` at the same steps. ``final``: train accuracy,
  static loss, divergence step (-1: none), training wall time.
  """
  key = curvature_key(config)

  def compute():
    result, seconds = run_measured(config, CURVATURE_MEASUREMENTS, progress)
    steps = result.record_steps
    measured = steps % CURVATURE_MEASUREMENTS.hessian_every == 0
    arrays = {"hessian_step": steps[measured],
              "hessian_max": result.history["hessian_max"][0][measured],
              "train_accuracy": result.history["train_accuracy"][0][measured]}
    return store.Record("mse-curvature", key, measured_final(result, seconds), arrays=arrays,
                        environment=provenance.environment())

  return store.cached(directory, "mse-curvature", key, compute, recompute)


def mse_curvature(directory, recompute: bool = False, progress: bool = True,
                  compute: bool = True) -> Curvature:
  """Run (or load) the curvature runs of :data:`CURVATURE_ARMS` on :data:`CURVATURE_SEEDS`.

  The MSE arms train with the study's settled rate at width 100
  (:func:`~dynloss_book.mse.settled_learning_rate`, whose run the verdict part stores), the
  cross-entropy arms with 1.
  """
  eta_mse = mse.settled_learning_rate(directory, CURVATURE_WIDTH, False, progress, compute).value
  rates = np.array([mse.CE_LEARNING_RATE if loss == "cross_entropy" else eta_mse
                    for _, loss, _ in CURVATURE_ARMS])
  records = []
  for (label, loss, amplitude), eta in zip(CURVATURE_ARMS, rates):
    for seed in CURVATURE_SEEDS:
      config = curvature_config(loss, amplitude, seed, float(eta))
      if compute:
        record = curvature_run(directory, config, recompute, progress and f"{label}, seed {seed}")
      else:
        record = store.load(directory, "mse-curvature", curvature_key(config))
        if record is None:
          raise ValueError(f"the curvature run {label}, seed {seed} is not stored in "
                           f"{directory}; compute it with: python -m dynloss_book regenerate "
                           "mse_curvature --only-missing")
      records.append(record)
  shape = (len(CURVATURE_ARMS), len(CURVATURE_SEEDS))
  final = lambda name: np.array([r.final[name] for r in records], dtype=float).reshape(shape)
  return Curvature(tuple(a[0] for a in CURVATURE_ARMS), tuple(a[1] for a in CURVATURE_ARMS),
                   rates, CURVATURE_SEEDS,
                   records[0].arrays["hessian_step"],
                   np.stack([r.arrays["hessian_max"] for r in records]).reshape(*shape, -1),
                   final("train_accuracy"), final("diverged_step") >= 0, final("wall_seconds"))


def mse_edge_of_stability(directory):
  """Width 100: each MSE arm's median lambda_max / (2/eta) over the second half is within
  5% of 1 (the edge of stability)."""
  curvature = mse_curvature(directory, progress=False, compute=False)
  value = max(abs(r - 1.0) for r, loss in zip(curvature.ratio_medians(), curvature.losses)
              if loss != "cross_entropy")
  return mse.claim("width 100, MSE family: |median lambda_max / (2/eta) - 1| <= 0.05", value,
                value <= 0.05)
