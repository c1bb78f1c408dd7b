r"""The dynamical cross-entropy loss.

.. math::
  F = -\frac{1}{N} \sum_{j=1}^{N} \Gamma_{c_j}(t)\,
      \log \operatorname{softmax}(f(x_j))_{c_j}
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def dynamical_cross_entropy(logits, labels, class_weights):
  r"""Mean class-weighted softmax cross-entropy.

  .. math::
    F = -\frac{1}{N} \sum_j \Gamma_{y_j} \log \operatorname{softmax}(z_j)_{y_j}

  With all weights 1 this is ``optax.softmax_cross_entropy_with_integer_labels``
  averaged over the batch. Because every :math:`\Gamma_c > 0` and each term is
  non-negative, :math:`F \ge 0`, and the global minima (every sample classified
  with certainty) are those of the static loss.

  Args:
    logits: ``(N, C)`` network outputs.
    labels: ``(N,)`` integer labels in ``[0, C)``.
    class_weights: ``(C,)`` weights :math:`\Gamma`.

  Returns:
    Scalar loss :math:`F`.

  Examples:
    >>> logits = jnp.array([[2.0, 0.0], [0.0, 1.0]])
    >>> labels = jnp.array([0, 0])
    >>> float(dynamical_cross_entropy(logits, labels, jnp.ones(2))).__round__(6)
    0.720095
    >>> float(dynamical_cross_entropy(logits, labels, jnp.array([0.5, 1.5]))).__round__(6)
    0.360047
  """
  log_probs = jax.nn.log_softmax(logits, axis=-1)
  picked = jnp.take_along_axis(log_probs, labels[:, None], axis=-1)[:, 0]
  return -jnp.mean(class_weights[labels] * picked)
