"""The dog-among-cats toy model of the frustration chapter."""

import numpy as np
import pytest

from dynloss_lib import schedules
from dynloss_book import toy


def gamma_of(ratio):
  return np.array([2 / (ratio + 1), 2 * ratio / (ratio + 1)])


THETAS = np.deg2rad(np.linspace(-180, 180, 720, endpoint=False))


def test_global_minimum_classifies_everything():
  x, y = toy.dog_among_cats()
  logits = np.asarray(toy.apply(0.0, x))
  assert (logits.argmax(axis=1) == y).all()


@pytest.mark.parametrize("ratio", [0.2, 1.0, 3.0, 50.0])
def test_global_minimum_stays_on_the_dog(ratio):
  values = toy.landscape(THETAS, gamma_of(ratio))
  assert abs(np.rad2deg(THETAS[np.argmin(values)])) < 1.0


def test_static_loss_is_frustrated_and_tilting_removes_it():
  static = toy.local_minima(toy.landscape(THETAS, np.ones(2)), periodic=True)
  assert len(static) == 3  # the dog and one dip behind the cats on each side
  tilted = toy.local_minima(toy.landscape(THETAS, gamma_of(3.0)), periodic=True)
  assert len(tilted) == 1


def test_landscape_is_symmetric():
  values = toy.landscape(THETAS[1:], np.ones(2))
  np.testing.assert_allclose(values, values[::-1], rtol=1e-10)


def test_local_minima_periodic_wraps():
  values = np.array([1.0, 2.0, 3.0, 0.5])
  assert toy.local_minima(values).tolist() == []
  assert toy.local_minima(values, periodic=True).tolist() == [3]


def test_dynamical_descent_escapes_and_static_does_not():
  start, period = np.deg2rad(170.0), 50
  static = toy.descend(start, schedules.constant(2), 0.5, 4 * (period + 1))
  dynamical = toy.descend(start, schedules.triangle(10.0, period, 2, static_from=3 * (period + 1)),
                          0.5, 4 * (period + 1))
  assert abs(np.rad2deg(static["final_theta"])) > 90 and static["accuracy"][-1] < 1
  assert abs(np.rad2deg(dynamical["final_theta"])) < 1 and dynamical["accuracy"][-1] == 1
