"""One idiom for argument checks: the same rules and messages in every config and function."""

import json

import numpy as np
import pytest

from dynloss_lib import checks, data, models, schedules
from dynloss_book import stats
from dynloss_lib.experiments import SpiralConfig
from dynloss_lib.minibatch import CifarConfig


@pytest.mark.parametrize("make", [lambda seed: SpiralConfig(seed=seed, steps=10),
                                  lambda seed: CifarConfig(seed=seed, width=4, epochs=1)],
                         ids=["SpiralConfig", "CifarConfig"])
def test_configs_agree_on_seeds(make):
  # numpy integers are integers (and become Python ints, so the stored keys are JSON);
  # bools and negative seeds are refused, with the same message in both configs.
  config = make(np.int64(3))
  assert config.seed == 3 and type(config.seed) is int
  json.dumps(config.to_dict())
  for bad in (True, -1, 2.0):
    with pytest.raises(ValueError, match=rf"seed must be an integer >= 0, got seed={bad!r}"):
      make(bad)


@pytest.mark.parametrize("call, message", [
    (lambda: models.mlp(width=np.int32(0)), "width must be an integer >= 1, got width=0"),
    (lambda: models.mlp(width=True), "width must be an integer >= 1, got width=True"),
    (lambda: schedules.triangle(70.0, period=np.int64(0), num_classes=3),
     "period must be an integer >= 1, got period=0"),
    (lambda: schedules.triangle(0.5, period=10, num_classes=3),
     "amplitude must be a finite number >= 1, got amplitude=0.5"),
    (lambda: schedules.ClassWeights(True), "num_classes must be an integer >= 2, got num_classes=True"),
    (lambda: data.spiral(noise=float("nan")), "noise must be a finite number >= 0, got noise=nan"),
    (lambda: stats.paired_bootstrap([1.0], [0.0], resamples=10),
     "resamples must be an integer >= 1000, got resamples=10"),
    (lambda: CifarConfig(static_epochs=3, epochs=2, width=4),
     r"static_epochs must be an integer in \[0, 2\], got static_epochs=3"),
    (lambda: CifarConfig(momentum=1.0, width=4), "momentum must be a finite number >= 0 and < 1"),
    (lambda: CifarConfig(train_size=0, width=4), "train_size must be an integer >= 1, got train_size=0"),
])
def test_one_message_shape_everywhere(call, message):
  with pytest.raises(ValueError, match=message):
    call()


def test_numbers_refuse_bools_and_non_finite_values():
  with pytest.raises(ValueError, match="got x=True"):
    checks.number("x", True)
  with pytest.raises(ValueError, match="got x=inf"):
    checks.number("x", float("inf"), above=0)
  checks.number("x", np.float32(0.5), above=0, below=1)
