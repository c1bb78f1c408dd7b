r"""Data sets: the paper's spiral and its held-out validation set.

The spiral is exactly the authors' generator: for class :math:`j`,

.. math::
  r = \mathrm{linspace}(0, 1, N), \quad
  \theta = \mathrm{linspace}\left(\tfrac{2\pi j}{C}, \tfrac{2\pi j}{C} + R\pi, N\right)
           + \sigma\, \xi, \quad \xi \sim \mathcal N(0, 1),

:math:`x = (r\cos\theta, r\sin\theta)`, with numpy's legacy generator seeded once
and the classes drawn in order. :math:`R` is the reference's ``revolutions``
(it counts half-turns: the default 4 winds each arm twice around the origin).
"""

from __future__ import annotations


import numpy as np

from dynloss_lib import checks
from dynloss_lib.checks import check_dataset, check_labels  # noqa: F401  (public here too)

VALIDATION_SEED_OFFSET = 1_000
"""The validation spiral is the same generator seeded with ``seed + 1000``."""


def spiral(points_per_class: int = 100, num_classes: int = 3, revolutions: float = 4,
           noise: float = 0.2, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
  r"""The spiral data set of the paper (Fig. 4 and the small-model runs).

  Args:
    points_per_class: :math:`N`, points in each arm.
    num_classes: :math:`C`, number of arms (classes), at least 2.
    revolutions: :math:`R`, the angle spanned by each arm is :math:`R\pi`.
    noise: :math:`\sigma`, standard deviation of the angular noise.
    seed: seed of ``numpy.random.RandomState`` (the reference's
      ``numpy.random.seed``).

  Returns:
    ``(x, y)``: float64 array of shape ``(N*C, 2)`` and int64 labels of shape
    ``(N*C,)``, ordered by class.

  Examples:
    >>> x, y = spiral()
    >>> x.shape, y.shape, x.dtype
    ((300, 2), (300,), dtype('float64'))
    >>> x[1].round(6)
    array([0.009885, 0.002076])
  """
  checks.integer("points_per_class", points_per_class)
  checks.integer("num_classes", num_classes, minimum=2)
  checks.number("revolutions", revolutions, above=0)
  checks.number("noise", noise, minimum=0)
  rng = np.random.RandomState(seed)
  xs, ys = [], []
  for j in range(num_classes):
    radius = np.linspace(0.0, 1.0, points_per_class)
    start = 2 * np.pi * j / num_classes
    theta = (np.linspace(start, start + revolutions * np.pi, points_per_class)
             + rng.randn(points_per_class) * noise)
    xs.append(np.stack([radius * np.cos(theta), radius * np.sin(theta)], axis=1))
    ys.append(np.full(points_per_class, j, dtype=np.int64))
  return np.concatenate(xs), np.concatenate(ys)


def spiral_validation(points_per_class: int = 100, num_classes: int = 3,
                      revolutions: float = 4, noise: float = 0.2,
                      seed: int = 0, draws: int = 1,
                      first_draw: int = 0) -> tuple[np.ndarray, np.ndarray]:
  r"""Held-out validation spiral: the same generator, independent noise draws.

  The reference code has no validation set. We use the training generator with
  seeds :math:`s + 1000 + k` for :math:`k = k_0, \dots, k_0 + D - 1` (``draws``
  :math:`= D`, ``first_draw`` :math:`= k_0`):
  the same radii and arms, new angular noise, so validation accuracy measures
  how well the learned boundary follows the arms rather than the particular
  noisy training points. ``draws=1`` is the 300-point set of the first phase
  diagrams; the generalisation study uses ``draws=10`` (3,000 points), where
  one point is 0.00033 of accuracy.

  Args:
    points_per_class: points in each arm, per draw.
    num_classes: number of arms.
    revolutions: angle spanned by each arm, in units of pi.
    noise: standard deviation of the angular noise.
    seed: the *training* seed; the validation seeds are derived from it.
    draws: :math:`D \ge 1`, independent noise draws, concatenated in order.
    first_draw: :math:`k_0 \ge 0`, the first draw (``first_draw=10, draws=10`` is a
      second 3,000-point set, independent of the first).

  Returns:
    ``(x, y)`` as :func:`spiral`, with ``draws * points_per_class * num_classes``
    points.

  Examples:
    >>> x_val, y_val = spiral_validation(draws=10)
    >>> x_val.shape, np.bincount(y_val).tolist()
    ((3000, 2), [1000, 1000, 1000])
    >>> bool((spiral_validation()[0] == x_val[:300]).all())  # draw 0 is the 300-point set
    True
    >>> second, _ = spiral_validation(draws=10, first_draw=10)
    >>> bool((second[:300] == spiral(seed=1010)[0]).all())
    True
    >>> spiral_validation(draws=0)
    Traceback (most recent call last):
    ...
    ValueError: draws must be an integer >= 1, got draws=0
  """
  checks.integer("draws", draws)
  checks.integer("first_draw", first_draw, minimum=0)
  parts = [spiral(points_per_class, num_classes, revolutions, noise,
                  seed + VALIDATION_SEED_OFFSET + k)
           for k in range(first_draw, first_draw + draws)]
  return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])
