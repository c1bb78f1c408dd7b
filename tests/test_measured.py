"""The landscape measurements taken in the training loop or after it: one trajectory, the same
measurements to rounding."""

import numpy as np
import pytest

from dynloss_lib.experiments import SpiralConfig
from dynloss_book import landscape as le

CONFIG = SpiralConfig(width=16, amplitude=10.0, period=60, steps=400, learning_rate=1.0)


@pytest.mark.parametrize("measurements", [
    le.Measurements(hessian_every=7, hessian_order=6, ntk_points=12, ntk_every=1),
    le.Measurements(hessian_every=10, hessian_order=6, ntk_points=0, class_losses=False),
], ids=["hessian and NTK", "hessian every 10 only"])
def test_measuring_after_the_loop_equals_measuring_in_it(measurements):
  loop, _ = le.run_measured(CONFIG, measurements, progress=False, measure="loop")
  after, _ = le.run_measured(CONFIG, measurements, progress=False, measure="after")
  # the training is the same, bit for bit
  for name in ("loss", "static_loss", "train_accuracy", "gamma"):
    np.testing.assert_array_equal(loop.history[name], after.history[name])
  for a, b in zip(*(np.asarray(r.params["params"]["Dense_1"]["kernel"]) for r in (loop, after))):
    np.testing.assert_array_equal(a, b)
  # the measurements agree to rounding, at the same steps
  names = {"hessian_max"} | ({"ntk_max"} if measurements.ntk_points else set())
  assert names <= set(after.history) and "params" not in after.history
  for name in names:
    a, b = loop.history[name], after.history[name]
    assert np.array_equal(np.isfinite(a), np.isfinite(b)), name
    np.testing.assert_allclose(b[np.isfinite(b)], a[np.isfinite(a)], rtol=1e-12)
  if measurements.class_losses:
    np.testing.assert_array_equal(loop.history["class_losses"], after.history["class_losses"])


def test_an_unknown_way_of_measuring_is_refused():
  with pytest.raises(ValueError, match="measure='inside'"):
    le.run_measured(CONFIG, le.Measurements(), progress=False, measure="inside")
