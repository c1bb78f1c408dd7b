r"""Follow-up of the dynamical-MSE study: a stable start (the chapter "Dynamical mean-squared error").

The study's rule (:func:`dynloss_book.mse.learning_rate`) gives the MSE
family the paper's cross-entropy start, :math:`\eta\,\lambda_{\max}(\theta_0)` =
1.6, 3.95 and 12.05 at widths 100, 300 and 1000, and at the two wider ones, far
above the stability limit 2, most hidden ReLU units of the MSE runs die: those
widths were not tested. This follow-up was fixed after that finding and before
any of its runs:

1. **Learning rate**: :math:`\eta = 1/\lambda_{\max}(H_{\rm MSE}(\theta_0))`
   (:func:`stable_learning_rate`), so that :math:`\eta\,\lambda_{\max} = 1` at the
   start, half the stability limit, at seed 0's paper initialisation, rounded to 3
   significant digits.
2. **Runs**: the static MSE and both dynamical MSEs at the study's primary cell
   (A = 70, T = 5000), widths 100, 300 and 1000, seeds 0-5; everything else as in
   the study (70,000 steps, the last cycle static, the 3,000-point validation set).
3. **Verdict**: the paired gain over the static MSE (same seed) in validation and
   train accuracy, with its 95% bootstrap interval; the dead hidden units
   (:func:`dead_units`) say whether the start was stable.
"""

from __future__ import annotations

import dataclasses
import functools

import numpy as np

from dynloss_lib import checks, data as data_lib
from dynloss_book import stats
from dynloss_book import mse
from dynloss_book.spiral import runs_for

START_PRODUCT = 1.0
"""The follow-up's :math:`\\eta\\,\\lambda_{\\max}(\\theta_0)`: half the stability limit 2."""
WIDTHS = mse.WIDTHS
SEEDS = mse.SEEDS
CELL = mse.PRIMARY_CELL
STATIC = "static MSE"
ARMS = (STATIC,) + mse.DYNAMICAL_MSE
"""The static MSE (``dmse_sample`` at A = 1), then the two dynamical MSEs at :data:`CELL`."""


@functools.lru_cache(maxsize=None)
def stable_learning_rate(width: int) -> float:
  r"""The follow-up's learning rate, :math:`\eta = 1 / \lambda_{\max}(H_{\rm MSE}(\theta_0))`.

  Args:
    width: hidden units.

  Returns:
    :math:`\eta` to 3 significant digits (:data:`START_PRODUCT` over the static MSE's
    curvature at seed 0's paper initialisation, :func:`~dynloss_book.mse.curvature_at_init`).

  Examples:
    >>> stable_learning_rate(100)
    0.225
  """
  return mse.round_significant(START_PRODUCT / mse.curvature_at_init(width, mse.STATIC_MSE))


def dead_units(model, params, x=None) -> int:
  """Hidden units of the MLP whose pre-activation is <= 0 on every point of ``x``.

  Such a ReLU unit passes no gradient on the training set and never recovers.

  Args:
    model: the :class:`~dynloss_lib.models.MLP`.
    params: its parameters.
    x: the points (default: the paper's 300-point training spiral).

  Returns:
    The number of dead units.

  Examples:
    >>> from dynloss_lib import models
    >>> model = models.mlp(width=2)
    >>> params = {"params": {"Dense_0": {"kernel": np.array([[1.0, -1.0], [0.0, 0.0]]),
    ...                                  "bias": np.array([0.0, -1.0])}, "Dense_1": {}}}
    >>> dead_units(model, params, np.array([[1.0, 0.0], [0.5, 2.0]]))  # unit 1: -x_0 - 1 < 0
    1
  """
  x = data_lib.spiral()[0] if x is None else x
  layer = model.layers(params)[0]
  return int(((np.asarray(x) @ layer["kernel"] + layer["bias"]).max(axis=0) <= 0).sum())


def _loss_and_cell(arm: str):
  checks.one_of("arm", arm, ARMS)
  if arm == STATIC:
    return mse.STATIC_MSE, (1.0, mse.STATIC_PERIOD)
  return arm, CELL


def config(width: int, arm: str, seed: int):
  """One run of the follow-up (see the module docstring).

  Examples:
    >>> [(c.loss, c.amplitude) for c in (config(100, a, 0) for a in ARMS)]
    [('dmse_sample', 1.0), ('dmse_sample', 70.0), ('dmse_output', 70.0)]
  """
  loss, (amplitude, period) = _loss_and_cell(arm)
  return mse.study_config(width, loss, amplitude, period, seed, stable_learning_rate(width))


@dataclasses.dataclass
class StableStart:
  """The follow-up's runs.

  Attributes:
    learning_rates: width -> :math:`\\eta`.
    arms: ``(width, arm)`` -> :class:`~dynloss_book.mse.Arm`, ``arm`` one of :data:`ARMS`.
    dead: ``(width, arm)`` -> ``(seeds,)`` dead hidden units at the end.
    runs: every stored run (for costs and machines).
  """
  learning_rates: dict
  arms: dict
  dead: dict
  runs: list

  def gain(self, width: int, loss: str, metric: str = "val") -> stats.Interval:
    """The paired gain of a dynamical MSE over the static MSE (``metric``: val or train)."""
    return stats.paired_bootstrap(getattr(self.arms[(width, loss)], metric),
                                  getattr(self.arms[(width, STATIC)], metric))


def stable_start(directory, recompute: bool = False, progress: bool = True,
                 devices: int | None = None, compute: bool = True) -> StableStart:
  """Run (or load) the follow-up, width by width."""
  rates, arms, dead, all_runs = {}, {}, {}, []
  for width in WIDTHS:
    rates[width] = stable_learning_rate(width)
    configs = [config(width, arm, s) for arm in ARMS for s in SEEDS]
    runs = runs_for(directory, configs, recompute, progress, devices, compute)
    all_runs += runs
    for i, arm in enumerate(ARMS):
      block = runs[i * len(SEEDS):(i + 1) * len(SEEDS)]
      loss, cell = _loss_and_cell(arm)
      arms[(width, arm)] = mse.arm(width, (loss, *cell), rates[width], block)
      dead[(width, arm)] = np.array([dead_units(r.config.model(), r.params) for r in block])
  return StableStart(rates, arms, dead, all_runs)


def sentence(study: StableStart, width: int, loss: str) -> str:
  """One dynamical MSE at one width against the static MSE, in one sentence with its numbers."""
  val, train = study.gain(width, loss, "val"), study.gain(width, loss, "train")
  return (f"Stable start, width {width}, {loss} (A = {CELL[0]:g}, T = {CELL[1]}) minus static "
          f"MSE: validation accuracy {val.text()}, {val.verdict()}; train accuracy "
          f"{train.text()}, {train.verdict()} ({val.n} paired seeds).")


def output_weighting_trains_faster(directory):
  """Stable start: dmse_output (70, 5000) trains better than the static MSE at every width."""
  study = stable_start(directory, progress=False, compute=False)
  low = min(study.gain(width, "dmse_output", "train").low for width in WIDTHS)
  return mse.claim("stable start, A=70, T=5000: lower 95% bound of dmse_output's paired train "
                    "gain over the static MSE > 0 at every width", low, low > 0)


def units_survive(directory):
  """Stable start: at most a tenth of the hidden units dead at the end of every run."""
  study = stable_start(directory, progress=False, compute=False)
  worst = max(float(d.max()) / width for (width, _), d in study.dead.items())
  return mse.claim("stable start: at most 10% of the hidden units dead in every run", worst,
                    worst <= 0.1)
