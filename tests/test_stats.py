"""Paired bootstrap intervals against hand-computed cases."""

import numpy as np
import pytest

from dynloss_book import stats


def test_two_pairs_by_hand():
  # d = (1, 3): resampled means 1, 2, 3 with probabilities 1/4, 1/2, 1/4, so the
  # 2.5% and 97.5% quantiles are exactly 1 and 3.
  interval = stats.paired_bootstrap([2.0, 5.0], [1.0, 2.0])
  assert (interval.mean, interval.low, interval.high, interval.n) == (2.0, 1.0, 3.0, 2)
  assert interval.half_width == 1.0 and interval.verdict() == "above 0"


def test_three_pairs_by_hand():
  # d = (-1, 0, 4): of the 27 equally likely resamples, the mean is -1 once (1/27 = 3.7%,
  # above 2.5%) and 4 once, so the 95% interval is [-1, 4]. At level 0.8 (10% tails) the
  # bounds move to the next means: -2/3 (3 resamples, cumulative 4/27 = 14.8%) and 8/3.
  d = np.array([-1.0, 0.0, 4.0])
  interval = stats.paired_bootstrap(d, np.zeros(3), resamples=200_000)
  assert interval.mean == 1.0 and interval.low == -1.0 and interval.high == 4.0
  assert interval.verdict() == "no effect resolvable (none larger than 4)"
  narrower = stats.paired_bootstrap(d, np.zeros(3), level=0.8, resamples=200_000)
  assert narrower.low == pytest.approx(-2 / 3) and narrower.high == pytest.approx(8 / 3)


def test_constant_difference_collapses_and_sign():
  interval = stats.paired_bootstrap(np.full(16, 0.5), np.full(16, 0.51))
  assert interval.low == interval.high == pytest.approx(-0.01)
  assert interval.verdict() == "below 0"


def test_pairing_matters():
  # Large shared seed effects cancel in the pairs: the interval is tight.
  base = np.linspace(0.9, 1.0, 20)
  interval = stats.paired_bootstrap(base + 0.002, base)
  assert interval.low == pytest.approx(0.002) and interval.high == pytest.approx(0.002)


def test_same_data_same_interval():
  rng = np.random.default_rng(1)
  a, b = rng.normal(size=10), rng.normal(size=10)
  assert stats.paired_bootstrap(a, b) == stats.paired_bootstrap(a, b)


@pytest.mark.parametrize("treated,control,kwargs,message", [
    ([1.0], [1.0, 2.0], {}, r"shapes \(1,\) and \(2,\)"),
    ([], [], {}, "at least one pair"),
    ([1.0], [0.0], {"level": 1.0}, "level=1.0"),
    ([1.0], [0.0], {"resamples": 10}, "resamples=10"),
    ([np.nan], [0.0], {}, "finite"),
])
def test_bad_input(treated, control, kwargs, message):
  with pytest.raises(ValueError, match=message):
    stats.paired_bootstrap(treated, control, **kwargs)
