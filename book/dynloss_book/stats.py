r"""Statistics over seeds: paired differences and their bootstrap intervals.

The dynamics are chaotic, so a claim compares *distributions over seeds*. A
dynamical run and a static run that share an initialisation seed form a pair;
the paired difference :math:`d_s = v^{\mathrm{dyn}}_s - v^{\mathrm{static}}_s`
removes the part of the seed-to-seed spread that both runs share.
"""

from __future__ import annotations

import dataclasses
import statistics

import numpy as np

from dynloss_lib import checks


@dataclasses.dataclass(frozen=True)
class Interval:
  """A mean with its confidence interval.

  Attributes:
    mean: the sample mean.
    low, high: the interval's bounds.
    n: the number of values.
    level: the confidence level of ``[low, high]``.
  """
  mean: float
  low: float
  high: float
  n: int
  level: float = 0.95

  def text(self) -> str:
    """The mean and interval as the book prints them.

    Examples:
      >>> Interval(0.0158, 0.012, 0.0198, 32).text()
      '+0.0158 (95% CI +0.0120 to +0.0198)'
    """
    return (f"{self.mean:+.4f} ({100 * self.level:g}% CI {self.low:+.4f} to "
            f"{self.high:+.4f})")

  @property
  def half_width(self) -> float:
    """The larger distance from the mean to a bound."""
    return max(self.mean - self.low, self.high - self.mean)

  def verdict(self, unit: str = "") -> str:
    """``"above 0"``, ``"below 0"`` or ``"no effect resolvable (none larger than x)"`` (x the
    farther bound).

    Examples:
      >>> Interval(0.01, 0.002, 0.02, 16).verdict()
      'above 0'
      >>> Interval(0.001, -0.002, 0.004, 16).verdict()
      'no effect resolvable (none larger than 0.004)'
    """
    if self.low > 0:
      return "above 0"
    if self.high < 0:
      return "below 0"
    return f"no effect resolvable (none larger than {max(abs(self.low), abs(self.high)):.3g}{unit})"

  def answer(self) -> str:
    """The verdict as the answer to "does it help?": ``"yes"``, ``"no (it lowers it)"``, or
    :meth:`verdict`'s no effect resolvable.

    Examples:
      >>> Interval(-0.01, -0.02, -0.002, 16).answer()
      'no (it lowers it)'
    """
    return {"above 0": "yes", "below 0": "no (it lowers it)"}.get(self.verdict(), self.verdict())


def paired_bootstrap(treated, control, *, level: float = 0.95, resamples: int = 20_000,
                     seed: int = 0) -> Interval:
  r"""Mean paired difference and its percentile-bootstrap confidence interval.

  With :math:`d_s = \mathrm{treated}_s - \mathrm{control}_s` for :math:`n` seeds,
  the interval is the :math:`(1 \mp \mathrm{level})/2` quantiles of
  :math:`\bar d^{*}`, the mean of :math:`n` values drawn from :math:`d` with
  replacement, over ``resamples`` draws (fixed ``seed``: the same data always
  give the same interval).

  Args:
    treated, control: ``(n,)`` paired values (the same seed at the same index).
    level: confidence level in (0, 1).
    resamples: bootstrap draws (>= 1000).
    seed: seed of the resampling.

  Returns:
    An :class:`Interval`.

  Examples:
    >>> # Two seeds, d = (1, 3): the resampled mean is 1, 2 or 3 with
    >>> # probability 1/4, 1/2, 1/4, so the 95% interval is [1, 3].
    >>> paired_bootstrap([2.0, 5.0], [1.0, 2.0])
    Interval(mean=2.0, low=1.0, high=3.0, n=2, level=0.95)
    >>> paired_bootstrap([1.0], [1.0, 2.0])
    Traceback (most recent call last):
    ...
    ValueError: treated and control must be 1-D arrays of one length, got shapes (1,) and (2,)
  """
  treated = np.asarray(treated, dtype=float)
  control = np.asarray(control, dtype=float)
  if treated.ndim != 1 or treated.shape != control.shape:
    raise ValueError(f"treated and control must be 1-D arrays of one length, got shapes "
                     f"{treated.shape} and {control.shape}")
  if treated.size == 0:
    raise ValueError("paired_bootstrap needs at least one pair, got 0")
  if not (0 < level < 1):
    raise ValueError(f"level must lie in (0, 1), got {level=}")
  checks.integer("resamples", resamples, minimum=1000)
  differences = treated - control
  if not np.isfinite(differences).all():
    raise ValueError(f"paired values must be finite, got differences {differences.tolist()}")
  rng = np.random.default_rng(seed)
  picks = rng.integers(0, differences.size, size=(resamples, differences.size))
  means = differences[picks].mean(axis=1)
  low, high = np.quantile(means, [(1 - level) / 2, (1 + level) / 2])
  return Interval(float(differences.mean()), float(low), float(high), int(differences.size),
                  level)


def detectable_difference(differences, *, level: float = 0.95, power: float = 0.8) -> float:
  r"""The smallest mean paired difference a design of this size detects with ``power``.

  For :math:`n` paired differences with sample standard deviation :math:`s`, a
  two-sided test at ``level`` detects a true mean difference :math:`\delta` with
  probability ``power`` when

  .. math::
    \delta \ge (z_{(1 + \text{level})/2} + z_{\text{power}})\, s / \sqrt{n}

  (the normal approximation; 2.80 s / sqrt(n) at the defaults).

  Args:
    differences: ``(n,)`` paired differences, ``n >= 2``.
    level: confidence level of the test.
    power: the probability of detecting the difference.

  Returns:
    :math:`\delta`.

  Examples:
    >>> round(detectable_difference([0.01, -0.01, 0.01, -0.01]), 4)  # s = 0.0115, n = 4
    0.0162
  """
  differences = np.asarray(differences, dtype=float)
  if differences.ndim != 1 or differences.size < 2:
    raise ValueError(f"detectable_difference needs at least 2 differences, got shape "
                     f"{differences.shape}")
  z = statistics.NormalDist().inv_cdf
  return float((z((1 + level) / 2) + z(power)) * differences.std(ddof=1)
               / np.sqrt(differences.size))


@dataclasses.dataclass(frozen=True)
class Difference:
  """The difference of two means and its standard error (independent samples).

  Attributes:
    treated, control: the two means.
    treated_std, control_std: their sample standard deviations (ddof 1; NaN for one value).
    difference: ``treated - control``.
    standard_error: :math:`\\sqrt{s_t^2/n_t + s_c^2/n_c}`.
    n_treated, n_control: the sample sizes.
  """
  treated: float
  control: float
  treated_std: float
  control_std: float
  difference: float
  standard_error: float
  n_treated: int
  n_control: int

  def verdict(self) -> str:
    """``"above 0"`` or ``"below 0"`` beyond two standard errors, else ``"not resolved"``.

    Examples:
      >>> difference_of_means([0.50, 0.52, 0.51], [0.40, 0.41, 0.42]).verdict()
      'above 0'
      >>> difference_of_means([0.5, 0.6], [0.55, 0.5]).verdict()
      'not resolved'
    """
    if self.difference > 2 * self.standard_error:
      return "above 0"
    if self.difference < -2 * self.standard_error:
      return "below 0"
    return "not resolved"


def difference_of_means(treated, control) -> Difference:
  r"""Difference of the means of two independent samples, with its standard error.

  .. math::
    \bar t - \bar c \pm \sqrt{s_t^2 / n_t + s_c^2 / n_c}

  Args:
    treated, control: 1-D samples (at least one value each).

  Returns:
    A :class:`Difference` (its standard error is NaN when a sample has one value).

  Examples:
    >>> d = difference_of_means([1.0, 3.0], [1.0, 1.0, 1.0])
    >>> d.difference, round(d.standard_error, 6)   # s_t = sqrt(2), s_c = 0: sqrt(2 / 2)
    (1.0, 1.0)
  """
  treated = np.asarray(treated, dtype=float)
  control = np.asarray(control, dtype=float)
  if treated.ndim != 1 or control.ndim != 1 or not treated.size or not control.size:
    raise ValueError(f"treated and control must be non-empty 1-D arrays, got shapes "
                     f"{treated.shape} and {control.shape}")
  std = lambda v: float(v.std(ddof=1)) if v.size > 1 else float("nan")
  error = float(np.hypot(std(treated) / np.sqrt(treated.size), std(control) / np.sqrt(control.size)))
  return Difference(float(treated.mean()), float(control.mean()), std(treated), std(control),
                    float(treated.mean() - control.mean()), error, int(treated.size),
                    int(control.size))
