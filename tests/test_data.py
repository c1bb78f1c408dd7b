"""The spiral against the reference generator (global numpy seed, classes in order)."""

import numpy as np
import pytest

from dynloss_lib import data


def reference_spiral(n=100, c=3, seed=0):
  np.random.seed(seed)
  xs, ys = np.zeros((n * c, 2)), np.zeros(n * c, dtype=int)
  for j in range(c):
    ix = range(n * j, n * (j + 1))
    r = np.linspace(0.0, 1, n)
    t = np.linspace(2 * np.pi * j / c, 2 * np.pi * j / c + 4 * np.pi, n) + np.random.randn(n) * 0.2
    xs[ix] = np.c_[r * np.cos(t), r * np.sin(t)]
    ys[ix] = j
  return xs, ys


def test_spiral_identical_to_reference():
  x, y = data.spiral()
  x_ref, y_ref = reference_spiral()
  assert x.dtype == np.float64 and x.shape == (300, 2) and y.shape == (300,)
  np.testing.assert_array_equal(x, x_ref)
  np.testing.assert_array_equal(y, y_ref)


def test_first_points_exact():
  x, _ = data.spiral()
  np.testing.assert_array_equal(x[0], [0.0, 0.0])
  noise = np.random.RandomState(0).randn(2)[1] * 0.2
  theta = 4 * np.pi / 99 + noise
  np.testing.assert_allclose(x[1], [np.cos(theta) / 99, np.sin(theta) / 99], rtol=1e-15)


def test_validation_is_independent_draw_of_same_arms():
  x, y = data.spiral()
  x_val, y_val = data.spiral_validation()
  np.testing.assert_array_equal(y, y_val)
  np.testing.assert_allclose(np.linalg.norm(x, axis=1), np.linalg.norm(x_val, axis=1))
  assert not np.allclose(x, x_val)
  np.testing.assert_array_equal(x_val, data.spiral(seed=data.VALIDATION_SEED_OFFSET)[0])


@pytest.mark.parametrize("kwargs,message", [
    (dict(points_per_class=0), "points_per_class=0"),
    (dict(num_classes=1), "num_classes=1"),
    (dict(noise=-0.1), "noise=-0.1"),
    (dict(revolutions=float("inf")), "revolutions=inf"),
])
def test_bad_spiral_arguments(kwargs, message):
  with pytest.raises(ValueError, match=message):
    data.spiral(**kwargs)


def test_check_dataset_errors():
  x = np.zeros((3, 2))
  with pytest.raises(ValueError, match="same length, got 3 and 2"):
    data.check_dataset(x, np.array([0, 1]), 3)
  with pytest.raises(ValueError, match=r"\[0, 3\), got label -1 at index 2"):
    data.check_dataset(x, np.array([0, 1, -1]), 3)
  with pytest.raises(ValueError, match="must be finite, got nan"):
    data.check_dataset(np.array([[0.0, np.nan]] * 3), np.array([0, 1, 2]), 3)
  with pytest.raises(ValueError, match="integers, got dtype float64"):
    data.check_dataset(x, np.array([0.0, 1.0, 2.0]), 3)


def test_large_validation_set_is_ten_independent_draws():
  x_val, y_val = data.spiral_validation(draws=10)
  assert x_val.shape == (3000, 2) and np.bincount(y_val).tolist() == [1000] * 3
  for k in range(10):
    x_k, y_k = data.spiral(seed=data.VALIDATION_SEED_OFFSET + k)
    np.testing.assert_array_equal(x_val[300 * k:300 * (k + 1)], x_k)
    np.testing.assert_array_equal(y_val[300 * k:300 * (k + 1)], y_k)
  # draw 0 is the old 300-point set; no draw repeats another or the training set
  np.testing.assert_array_equal(x_val[:300], data.spiral_validation()[0])
  blocks = [x_val[300 * k:300 * (k + 1)] for k in range(10)] + [data.spiral()[0]]
  for i in range(len(blocks)):
    for j in range(i):
      assert not np.allclose(blocks[i][1:], blocks[j][1:])


@pytest.mark.parametrize("draws", [0, -1, 1.5, True])
def test_bad_validation_draws(draws):
  with pytest.raises(ValueError, match=f"draws={draws!r}"):
    data.spiral_validation(draws=draws)
