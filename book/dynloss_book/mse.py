r"""The dynamical mean-squared error on the spiral (the chapter "Dynamical mean-squared error").

The authors' follow-up (Lavin and Ruiz-Garcia, arXiv:2410.10690) makes the MSE
dynamical too. Its formulas are not available here, so the book defines two
(:mod:`dynloss_lib.losses`), both equal to the static MSE when every
:math:`\Gamma` is 1 and with its global minima:

.. math::
  F_{\rm sample} = \frac1N \sum_j \Gamma_{y_j} \tfrac12 \sum_a (f_a(x_j) - [a = y_j])^2,
  \qquad
  F_{\rm output} = \frac1N \sum_j \tfrac12 \sum_a \Gamma_a (f_a(x_j) - [a = y_j])^2.

The design, fixed before any of its runs was looked at. Every run: the spiral,
Dense(width)-ReLU-Dense(3), the paper's initialisation, full-batch GD, float64,
70,000 steps, the last cycle static, the 3,000-point validation set, seeds :data:`SEEDS`.

1. **Learning rate**: 1 for the cross-entropy (the paper's); for the MSE family
   :func:`learning_rate` (the same :math:`\eta \lambda_{\max}` at initialisation),
   halved while seed 0's static MSE run diverges (:func:`settled_learning_rate`).
2. **Widths** :data:`WIDTHS`.
3. **Grid** per dynamical MSE: :data:`AMPLITUDES` x :data:`PERIODS`, each run paired
   with the static MSE run of its seed (``dmse_sample`` at A = 1, which ``dmse_output``
   at A = 1 equals).
4. **Cross-entropy arm**: static and (70, 5000), the generalisation study's own runs.
5. **Verdicts**: the paired gain (dynamical minus its own static loss, same seed) in
   validation and train accuracy, with its 95% bootstrap interval; the pre-declared
   primary cell :data:`PRIMARY_CELL` decides, the other three cells are a screen.
   Families: static MSE minus static CE. A diverged run keeps the accuracy of the
   parameters it stopped at, and is reported.
6. **Curvature** (:mod:`dynloss_book.mse_curvature`): the Hessian's
   :math:`\lambda_{\max}` of the loss trained, width 100, over 20,000 steps.
"""

from __future__ import annotations

import dataclasses
import functools
import math

import jax
import jax.numpy as jnp
import numpy as np

from dynloss_lib import analysis, checks, data as data_lib, losses, models
from dynloss_book import stats
from dynloss_lib.experiments import DTYPES, SpiralConfig
from dynloss_book import generalisation
from dynloss_book.spiral import runs_for, spiral_config, stored_runs

WIDTHS = (100, 300, 1000)
SEEDS = tuple(range(6))
DYNAMICAL_MSE = ("dmse_sample", "dmse_output")
STATIC_MSE = "dmse_sample"
"""The static MSE is ``dmse_sample`` at A = 1 (``dmse_output`` at A = 1 is the same loss)."""
AMPLITUDES = (10.0, 70.0)
PERIODS = (1000, 5000)
PRIMARY_CELL = (70.0, 5000)
STATIC_PERIOD = generalisation.STATIC_PERIOD
VALIDATION_DRAWS = generalisation.VALIDATION_DRAWS
CE_LEARNING_RATE = 1.0
LANCZOS_ORDER = 40
"""Lanczos order of :func:`curvature_at_init` (order 20 already agrees with a dense
Hessian to 1e-12 at widths 100 and 300; a test checks order 40 against one)."""
MAX_HALVINGS = 5


def round_significant(value: float, digits: int = 3) -> float:
  """``value`` rounded to ``digits`` significant digits.

  Examples:
    >>> round_significant(0.36137), round_significant(12.05, 2)
    (0.361, 12.0)
  """
  checks.number("value", value, above=0)
  return round(value, digits - 1 - math.floor(math.log10(value)))


def curvature_at_init(width: int, loss: str, seed: int = 0, order: int = LANCZOS_ORDER) -> float:
  r""":math:`\lambda_{\max}` of the static loss's Hessian at the paper initialisation.

  .. math::
    \lambda_{\max}\big(\nabla^2_\theta F_{\Gamma = 1}(\theta_0)\big)

  on the spiral, by :func:`dynloss_lib.analysis.hessian_top_eigenvalues`
  (Lanczos of ``order`` steps, cut to the number of parameters).

  Args:
    width: hidden units.
    loss: a name of :data:`dynloss_lib.losses.DYNAMICAL_LOSSES`.
    seed: initialisation seed.
    order: Lanczos order.

  Returns:
    The largest eigenvalue.

  Examples:
    >>> round(curvature_at_init(4, "dmse_sample"), 6)  # 27 parameters: Lanczos is exact
    2.68996
  """
  config = SpiralConfig(width=width, loss=loss, seed=seed)
  dtype = DTYPES[config.dtype]
  x, y = data_lib.spiral(config.points_per_class, config.num_classes, config.revolutions,
                         config.noise, config.data_seed)
  module = config.model()
  params = module.init(jax.random.PRNGKey(seed), jnp.zeros((1, 2), dtype))
  count = models.count_params(params)
  fn, ones = losses.dynamical_loss(loss), jnp.ones(config.num_classes, dtype)
  x, y = jnp.asarray(x, dtype), jnp.asarray(y)
  loss_fn = lambda p: fn(module.apply(p, x), y, ones)
  top = jax.jit(lambda p: analysis.hessian_top_eigenvalues(loss_fn, p, min(order, count))[0])
  return float(top(params))


@functools.lru_cache(maxsize=None)
def learning_rate(width: int, order: int = LANCZOS_ORDER) -> float:
  r"""The MSE family's learning rate by the study's rule.

  .. math::
    \eta_{\rm MSE} = \eta_{\rm CE}\,
      \frac{\lambda_{\max}(H_{\rm CE}(\theta_0))}{\lambda_{\max}(H_{\rm MSE}(\theta_0))},
    \qquad \eta_{\rm CE} = 1,

  at seed 0's paper initialisation, rounded to 3 significant digits: the same
  :math:`\eta \lambda_{\max}` at initialisation as the paper's cross-entropy run.

  Args:
    width: hidden units (>= 1).
    order: Lanczos order of :func:`curvature_at_init`.

  Returns:
    :math:`\eta_{\rm MSE}`.

  Examples:
    >>> learning_rate(100)
    0.361
  """
  checks.integer("width", width)
  ratio = curvature_at_init(width, "cross_entropy", 0, order) / curvature_at_init(
      width, STATIC_MSE, 0, order)
  return round_significant(CE_LEARNING_RATE * ratio)


def study_config(width: int, loss: str, amplitude: float, period: int, seed: int,
                 eta: float) -> SpiralConfig:
  """One run of the study; the cross-entropy's are the generalisation study's own.

  Examples:
    >>> config = study_config(300, "dmse_output", 70.0, 5000, 2, eta=0.377)
    >>> config.loss, config.learning_rate, config.validation_draws, config.steps
    ('dmse_output', 0.377, 10, 70000)
    >>> study_config(300, "cross_entropy", 1.0, 5000, 2, 1.0) == generalisation.study_config(
    ...     300, 1.0, 5000, 2)
    True
  """
  if loss == "cross_entropy":
    if eta != CE_LEARNING_RATE:
      raise ValueError(f"the cross-entropy keeps the paper's learning rate 1, got {eta=}")
    return generalisation.study_config(width, amplitude, period, seed)
  if loss == "dmse_output" and amplitude == 1.0:
    raise ValueError("dmse_output at A = 1 is the static MSE: use loss='dmse_sample', got "
                     f"{loss=}, {amplitude=}")
  return spiral_config(width=width, amplitude=amplitude, period=period, seed=seed, loss=loss,
                       learning_rate=eta, validation=True, validation_draws=VALIDATION_DRAWS)


def _static_key(loss: str) -> tuple:
  return ("cross_entropy" if loss == "cross_entropy" else STATIC_MSE, 1.0, STATIC_PERIOD)


def arm_keys() -> list[tuple]:
  """(loss, A, T) of every arm at one width: static MSE, the grid, static and dynamical CE."""
  return ([_static_key(STATIC_MSE)] + [(loss, a, t) for loss in DYNAMICAL_MSE
                                       for a in AMPLITUDES for t in PERIODS]
          + [_static_key("cross_entropy"), ("cross_entropy", *PRIMARY_CELL)])


@dataclasses.dataclass(frozen=True)
class LearningRate:
  """The MSE family's learning rate at one width.

  Attributes:
    width: hidden units.
    rule: :func:`learning_rate` (before any halving).
    tried: the rates of seed 0's static MSE run, in order (each half the one before).
    diverged: whether that run diverged at each rate.
  """
  width: int
  rule: float
  tried: tuple
  diverged: tuple

  @property
  def value(self) -> float:
    """The rate the study uses: the last one tried."""
    return self.tried[-1]


def settled_learning_rate(directory, width: int, recompute: bool = False, progress: bool = True,
                          compute: bool = True) -> LearningRate:
  """:func:`learning_rate`, halved while seed 0's static MSE run diverges at it.

  Each tried run is stored (a diverged one too, for the report). With
  ``compute=False`` a missing run is a ValueError.
  """
  rule = eta = learning_rate(width)
  tried, diverged = [], []
  for _ in range(MAX_HALVINGS + 1):
    # One run: spread over one device (a padded second copy would only cost time).
    [run] = runs_for(directory,
                     [study_config(width, STATIC_MSE, 1.0, STATIC_PERIOD, SEEDS[0], eta)],
                     recompute, progress, 1, compute)
    tried.append(eta)
    diverged.append(bool(run.final["diverged"]))
    if not diverged[-1]:
      return LearningRate(width, rule, tuple(tried), tuple(diverged))
    eta = eta / 2
  raise RuntimeError(f"width {width}: seed 0's static MSE run diverged at every rate tried, "
                     f"{tried}")


@dataclasses.dataclass
class Arm:
  """One loss at one width over :data:`SEEDS`: ``(seeds,)`` final numbers."""
  width: int
  loss: str
  amplitude: float
  period: int
  learning_rate: float
  train: np.ndarray
  val: np.ndarray
  diverged: np.ndarray
  wall_seconds: np.ndarray


def arm(width, key, eta, runs):
  final = lambda name: np.array([r.final[name] for r in runs], dtype=float)
  return Arm(width, *key, eta, final("train_accuracy"), final("val_accuracy"),
             final("diverged").astype(bool), final("wall_seconds"))


@dataclasses.dataclass
class MSEStudy:
  """The study's runs (see the module docstring).

  Attributes:
    learning_rates: width -> :class:`LearningRate`.
    arms: ``(width, loss, A, T)`` -> :class:`Arm` (static losses at A = 1, T = 5000).
    halving_runs: the diverged runs of :func:`settled_learning_rate`, for their cost.
  """
  learning_rates: dict
  arms: dict
  halving_runs: list = dataclasses.field(default_factory=list)

  def arm(self, width: int, loss: str, amplitude: float = 1.0, period: int = STATIC_PERIOD):
    return self.arms[(width, loss, float(amplitude), period)]

  def gain(self, width: int, loss: str, cell=PRIMARY_CELL, metric: str = "val"):
    """Paired gain of ``loss`` at ``cell`` over its own static loss (``metric``: val or train)."""
    dynamical, static = self.arm(width, loss, *cell), self.arm(width, *_static_key(loss))
    return stats.paired_bootstrap(getattr(dynamical, metric), getattr(static, metric))

  def family_gap(self, width: int, metric: str = "val"):
    """Static MSE minus static CE, paired by seed."""
    mse, ce = self.arm(width, *_static_key(STATIC_MSE)), self.arm(width, *_static_key(
        "cross_entropy"))
    return stats.paired_bootstrap(getattr(mse, metric), getattr(ce, metric))


def dynamical_mse(directory, recompute: bool = False, progress: bool = True,
                  devices: int | None = None, compute: bool = True) -> MSEStudy:
  """Run (or load) the whole verdict part, width by width (cheapest first).

  At each width: the cross-entropy arm (runs missing from the generalisation
  study are computed), then the MSE learning rate
  (:func:`settled_learning_rate`), then the MSE grid at that rate.
  """
  rates, arms, halving_runs = {}, {}, []
  for width in WIDTHS:
    ce_keys = [k for k in arm_keys() if k[0] == "cross_entropy"]
    ce_configs = [study_config(width, *k, s, CE_LEARNING_RATE) for k in ce_keys for s in SEEDS]
    ce_runs = runs_for(directory, ce_configs, recompute, progress, devices, compute)
    rate = rates[width] = settled_learning_rate(directory, width, recompute, progress, compute)
    halving = [study_config(width, STATIC_MSE, 1.0, STATIC_PERIOD, SEEDS[0], eta)
               for eta in rate.tried[:-1]]
    halving_runs += runs_for(directory, halving, False, progress, devices, compute)
    mse_keys = [k for k in arm_keys() if k[0] != "cross_entropy"]
    configs = [study_config(width, *k, s, rate.value) for k in mse_keys for s in SEEDS]
    # Seed 0's static MSE run was just settled (and, with recompute, recomputed): reuse it.
    rest = runs_for(directory, configs[1:], recompute, progress, devices, compute)
    mse_runs = runs_for(directory, configs[:1], False, progress, devices, compute) + rest
    for keys, runs, eta in ((ce_keys, ce_runs, CE_LEARNING_RATE), (mse_keys, mse_runs,
                                                                    rate.value)):
      for i, key in enumerate(keys):
        arms[(width, *key)] = arm(width, key, eta, runs[i * len(SEEDS):(i + 1) * len(SEEDS)])
  return MSEStudy(rates, arms, halving_runs)


def study_runs(directory, study: MSEStudy) -> list:
  """Every stored run of ``study`` (the halving runs included), for costs and machines."""
  configs = [study_config(w, loss, a, t, s, arm.learning_rate)
             for (w, loss, a, t), arm in study.arms.items() for s in SEEDS]
  return stored_runs(directory, configs) + list(study.halving_runs)


def verdict_sentence(study: MSEStudy, width: int, loss: str, cell=PRIMARY_CELL) -> str:
  """One loss at one width against its own static loss, in one sentence with its numbers."""
  val, train = study.gain(width, loss, cell, "val"), study.gain(width, loss, cell, "train")
  diverged = int(study.arm(width, loss, *cell).diverged.sum())
  name, static = ("CE", "static CE") if loss == "cross_entropy" else (loss, "static MSE")
  return (f"Width {width}, {name} (A = {cell[0]:g}, T = {cell[1]}) minus {static}: "
          f"validation accuracy {val.text()}, {val.verdict()}; train accuracy "
          f"{train.text()}, {train.verdict()} ({val.n} paired seeds, {diverged} diverged).")


def family_sentence(study: MSEStudy, width: int) -> str:
  """Static MSE against static CE at one width, in one sentence."""
  val, train = study.family_gap(width, "val"), study.family_gap(width, "train")
  return (f"Width {width}, static MSE minus static CE: validation accuracy {val.text()}, "
          f"{val.verdict()}; train accuracy {train.text()}, {train.verdict()}.")


def claim(text, statistic, holds):
  from dynloss_book.check import Claim
  return Claim(text, float(statistic), bool(holds))


def width100_train_gain(directory):
  """Width 100: both dynamical MSEs (70, 5000) train better than the static MSE."""
  study = dynamical_mse(directory, progress=False, compute=False)
  low = min(study.gain(100, loss, PRIMARY_CELL, "train").low for loss in DYNAMICAL_MSE)
  return claim("width 100, A=70, T=5000: lower 95% bound of the paired train gain of "
                "dmse_sample and dmse_output over the static MSE > 0", low, low > 0)


def static_mse_never_fits(directory):
  """The static MSE fits the spiral at none of the widths (median train accuracy < 0.9)."""
  study = dynamical_mse(directory, progress=False, compute=False)
  value = max(np.median(study.arm(w, STATIC_MSE).train) for w in WIDTHS)
  return claim("static MSE: median train accuracy < 0.9 at every width", value, value < 0.9)


def width1000_mse_collapses(directory):
  """Width 1000: every MSE-family arm ends near chance (mean train accuracy <= 0.4)."""
  study = dynamical_mse(directory, progress=False, compute=False)
  value = max(arm.train.mean() for (w, loss, _, _), arm in study.arms.items()
              if w == 1000 and loss != "cross_entropy")
  return claim("width 1000: every MSE-family arm's mean train accuracy <= 0.4", value,
                value <= 0.4)
