r"""The onset of an instability: the first step of a cycle at which a gradient step
*increases* the loss it descends, at that step's fixed :math:`\Gamma`.

:func:`fixed_gamma_loss_change` turns the per-class losses recorded in the loop
(:func:`dynloss_lib.analysis.class_loss_probe`) into that change; :func:`instability_onsets`
finds the onsets; :func:`value_at_or_before` reads a sparse measurement (the Hessian's
:math:`\lambda_{\max}`, every 25 steps) at them.
"""

from __future__ import annotations

import numpy as np

from dynloss_lib import checks


def fixed_gamma_loss_change(class_loss_history, gamma_history):
  r"""Loss change of each GD step at that step's own class weights.

  .. math::
    \Delta F(t) = F_{\Gamma(t)}(\theta_{t+1}) - F_{\Gamma(t)}(\theta_t)
               = \Gamma(t) \cdot \left(L(\theta_{t+1}) - L(\theta_t)\right)

  Unlike :math:`F(t) - F(t-1)`, it does not mix in the change of
  :math:`\Gamma`: GD with :math:`\lambda_{\max} < 2/\eta` on a locally quadratic
  loss always has :math:`\Delta F(t) < 0`.

  Args:
    class_loss_history: ``(R, C)`` per-class losses recorded every step.
    gamma_history: ``(R, C)`` the class weights at the same steps.

  Returns:
    ``(R - 1,)`` array; entry ``t`` is the change made by step ``t``.

  Examples:
    >>> losses = np.array([[1.0, 1.0], [0.8, 1.1], [0.7, 1.0]])
    >>> fixed_gamma_loss_change(losses, np.array([[1.5, 0.5]] * 3)).round(6)
    array([-0.25, -0.2 ])
  """
  class_loss_history = np.asarray(class_loss_history, dtype=float)
  gamma_history = np.asarray(gamma_history, dtype=float)
  if class_loss_history.shape != gamma_history.shape or class_loss_history.ndim != 2:
    raise ValueError("class losses and gammas must both be (records, classes), got shapes "
                     f"{class_loss_history.shape} and {gamma_history.shape}")
  return np.sum(gamma_history[:-1] * np.diff(class_loss_history, axis=0), axis=1)


def instability_onsets(loss_change, cycle_length: int, *, quiet: int = 250,
                       tolerance: float = 1e-3, first_step: int = 0,
                       last_step: int | None = None) -> np.ndarray:
  r"""The first onset of instability in each cycle.

  A step :math:`t` is *unstable* if its GD step increases the loss it descends,
  :math:`\Delta F(t) > \tau\, m` (:math:`\Delta F` from
  :func:`fixed_gamma_loss_change`, :math:`m` the median of :math:`|\Delta F|`
  over the run, so that round-off of a converged run does not count). An
  *onset of instability* is an unstable step preceded by ``quiet`` stable steps
  (so a burst that runs on from the previous cycle is not a new onset). This
  returns, for each cycle (steps :math:`[kL, (k+1)L)`, :math:`L = T + 1`), its
  first onset. Steps outside ``[first_step, last_step)`` are ignored (for
  example the static last cycle).

  Args:
    loss_change: ``(S,)`` :math:`\Delta F(t)` for steps ``0 .. S-1``.
    cycle_length: :math:`L = T + 1` steps (>= 1).
    quiet: stable steps required before an onset (>= 0; the first
      ``quiet`` steps of the run cannot hold an onset).
    tolerance: :math:`\tau \ge 0`.
    first_step, last_step: the steps searched (default: all).

  Returns:
    ``(K,)`` int array, one entry per cycle that starts before ``last_step``:
    the onset step, or -1 if that cycle has none.

  Examples:
    >>> change = -np.ones(15); change[[2, 3, 5, 9, 10]] = 1.0
    >>> instability_onsets(change, cycle_length=5, quiet=2)
    array([ 2,  9, -1])
    >>> instability_onsets(change, cycle_length=5, quiet=1)
    array([ 2,  5, -1])
  """
  checks.integer("cycle_length", cycle_length, minimum=1)
  checks.integer("quiet", quiet, minimum=0)
  if not tolerance >= 0:
    raise ValueError(f"tolerance must be >= 0, got {tolerance=}")
  change = np.asarray(loss_change, dtype=float)
  last_step = change.shape[0] if last_step is None else min(last_step, change.shape[0])
  finite = np.isfinite(change)
  scale = np.median(np.abs(change[finite])) if finite.any() else 0.0
  unstable = finite & (change > tolerance * scale)
  # stable_run[t]: number of stable steps among the `quiet` steps before t
  before = np.concatenate([[0], np.cumsum(~unstable)])
  steps = np.arange(change.shape[0])
  window = before[steps] - before[np.maximum(steps - quiet, 0)]
  onset = unstable & (steps >= quiet) & (window == quiet) & (steps >= first_step) & \
      (steps < last_step)
  onsets = []
  for start in range(0, last_step, cycle_length):
    hits = np.flatnonzero(onset[start:min(start + cycle_length, last_step)])
    onsets.append(start + hits[0] if hits.size else -1)
  return np.asarray(onsets, dtype=int)


def value_at_or_before(steps, values, query_steps) -> np.ndarray:
  """The last finite measurement at or before each query step (NaN if none).

  For sparse in-loop measurements (the Hessian every k steps).

  Args:
    steps: ``(R,)`` increasing steps of the measurements.
    values: ``(R,)`` values, NaN where not measured.
    query_steps: steps to look up.

  Returns:
    Array shaped like ``query_steps``.

  Examples:
    >>> value_at_or_before([0, 1, 2, 3], [5.0, np.nan, 7.0, np.nan], [1, 3, -1])
    array([ 5.,  7., nan])
  """
  steps, values = np.asarray(steps), np.asarray(values, dtype=float)
  measured = np.isfinite(values)
  steps, values = steps[measured], values[measured]
  query = np.asarray(query_steps)
  index = np.searchsorted(steps, query, side="right") - 1
  return np.where(index >= 0, values[np.clip(index, 0, None)] if values.size else np.nan,
                  np.nan)
