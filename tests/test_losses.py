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
