import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from dynloss_lib.losses import dynamical_cross_entropy


@pytest.fixture
def batch():
  key_logits, key_labels = jax.random.split(jax.random.PRNGKey(1))
  return (jax.random.normal(key_logits, (50, 3), jnp.float64) * 3,
          jax.random.randint(key_labels, (50,), 0, 3))


def test_unit_weights_equal_optax_mean(batch):
  logits, labels = batch
  expected = optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()
  assert float(dynamical_cross_entropy(logits, labels, jnp.ones(3))) == pytest.approx(
      float(expected), rel=1e-14)


def test_weighted_value_by_hand(batch):
  logits, labels = batch
  weights = jnp.array([2.9, 0.05, 0.05])
  logits_np, labels_np = np.asarray(logits), np.asarray(labels)
  log_p = logits_np - np.log(np.exp(logits_np).sum(1, keepdims=True))
  expected = -np.mean(np.asarray(weights)[labels_np] * log_p[np.arange(50), labels_np])
  assert float(dynamical_cross_entropy(logits, labels, weights)) == pytest.approx(expected,
                                                                                  rel=1e-13)


def test_non_negative_and_zero_only_at_certainty(batch):
  logits, labels = batch
  for weights in (jnp.ones(3), jnp.array([2.9, 0.05, 0.05]), jnp.array([0.1, 0.1, 2.8])):
    assert float(dynamical_cross_entropy(logits, labels, weights)) >= 0
  certain = jax.nn.one_hot(labels, 3) * 100.0
  assert float(dynamical_cross_entropy(certain, labels, jnp.array([2.9, 0.05, 0.05]))) < 1e-40


# --- pluggable losses -------------------------------------------------------------------------

from dynloss_lib import losses as losses_lib  # noqa: E402


def reference_losses(outputs, labels, gamma):
  """The three dynamical losses written out with loops."""
  n, c = outputs.shape
  ce = mse_sample = mse_output = 0.0
  for j in range(n):
    z = outputs[j]
    log_softmax = z - np.log(np.sum(np.exp(z - z.max()))) - z.max()
    ce += -gamma[labels[j]] * log_softmax[labels[j]]
    errors = [(z[a] - (1.0 if a == labels[j] else 0.0)) ** 2 for a in range(c)]
    mse_sample += gamma[labels[j]] * 0.5 * sum(errors)
    mse_output += 0.5 * sum(gamma[a] * errors[a] for a in range(c))
  return ce / n, mse_sample / n, mse_output / n


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_dynamical_losses_against_loops(seed):
  rng = np.random.default_rng(seed)
  outputs = rng.normal(size=(7, 3))
  labels = rng.integers(0, 3, size=7)
  gamma = rng.uniform(0.1, 2.0, size=3)
  expected = reference_losses(outputs, labels, gamma)
  for name, value in zip(("cross_entropy", "dmse_sample", "dmse_output"), expected):
    got = float(losses_lib.dynamical_loss(name)(jnp.asarray(outputs), jnp.asarray(labels),
                                                jnp.asarray(gamma)))
    assert got == pytest.approx(value, rel=1e-12), name


@pytest.mark.parametrize("name", ["cross_entropy", "dmse_sample", "dmse_output"])
def test_unit_weights_give_the_static_loss_and_minima_stay(name):
  rng = np.random.default_rng(3)
  outputs, labels = jnp.asarray(rng.normal(size=(6, 3))), jnp.asarray(rng.integers(0, 3, 6))
  fn = losses_lib.dynamical_loss(name)
  per_sample = losses_lib.static_per_sample(name, outputs, labels)
  static = jnp.mean(per_sample)
  assert float(fn(outputs, labels, jnp.ones(3))) == pytest.approx(float(static), rel=1e-14)
  assert per_sample.shape == (6,)  # one value per sample
  primitive = losses_lib.cross_entropy if name == "cross_entropy" else \
      losses_lib.mean_squared_error
  np.testing.assert_allclose(per_sample, primitive(outputs, labels), rtol=1e-14)
  if name != "cross_entropy":  # the MSE's global minimum (outputs = one-hot) is 0 for any Gamma
    perfect = jax.nn.one_hot(labels, 3, dtype=outputs.dtype)
    assert float(fn(perfect, labels, jnp.array([5.0, 0.1, 1.0]))) == 0.0


def test_output_weighting_differs_from_sample_weighting():
  outputs = jnp.array([[0.5, 0.5], [0.0, 2.0]])
  labels = jnp.array([0, 1])
  gamma = jnp.array([0.5, 1.5])
  assert float(losses_lib.dynamical_mse_sample(outputs, labels, gamma)) == 0.4375
  assert float(losses_lib.dynamical_mse_output(outputs, labels, gamma)) == 0.5
