r"""Per-sample losses and the dynamical losses built from them.

A per-sample loss ``loss(outputs, labels) -> (N,)`` (optax's shape) is the one
primitive; a dynamical loss weights it by the class factors :math:`\Gamma(t)`:

.. math::
  F = \frac{1}{N} \sum_{j=1}^{N} \Gamma_{y_j}(t)\, \ell(f(x_j), y_j).

With :math:`\ell` the cross-entropy this is the paper's loss. Every dynamical
loss has the signature ``fn(outputs, labels, class_weights) -> scalar`` and
equals its static loss when all weights are 1. :data:`DYNAMICAL_LOSSES` names
them for configurations and the command line: a new loss is one function and
one entry there.
"""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp

from dynloss_lib import checks


def cross_entropy(logits, labels):
  r"""Per-sample softmax cross-entropy, :math:`-\log \operatorname{softmax}(z_j)_{y_j}`.

  Args:
    logits: ``(N, C)`` network outputs.
    labels: ``(N,)`` integer labels in ``[0, C)``.

  Returns:
    ``(N,)`` losses (as ``optax.softmax_cross_entropy_with_integer_labels``).

  Examples:
    >>> losses = cross_entropy(jnp.array([[2.0, 0.0], [0.0, 1.0]]), jnp.array([0, 0]))
    >>> [round(v, 6) for v in losses.tolist()]   # log(1 + e^-2), log(1 + e)
    [0.126928, 1.313262]
  """
  log_probs = jax.nn.log_softmax(logits, axis=-1)
  return -jnp.take_along_axis(log_probs, labels[:, None], axis=-1)[:, 0]


def mean_squared_error(outputs, labels):
  r"""Per-sample squared error to the one-hot target,
  :math:`\tfrac12 \sum_a (f_a(x_j) - [a = y_j])^2`.

  Args:
    outputs: ``(N, C)`` network outputs.
    labels: ``(N,)`` integer labels in ``[0, C)``.

  Returns:
    ``(N,)`` losses.

  Examples:
    >>> mean_squared_error(jnp.array([[1.0, 0.0], [0.5, 1.0]]), jnp.array([0, 0])).tolist()
    [0.0, 0.625]
  """
  return 0.5 * jnp.sum(_output_errors(outputs, labels) ** 2, axis=-1)


def _output_errors(outputs, labels):
  return outputs - jax.nn.one_hot(labels, outputs.shape[-1], dtype=outputs.dtype)


def class_weighted(per_sample: Callable, outputs, labels, class_weights):
  r"""Mean of a per-sample loss weighted by its sample's class,
  :math:`\frac1N \sum_j \Gamma_{y_j} \ell(f(x_j), y_j)`.

  Examples:
    >>> class_weighted(mean_squared_error, jnp.array([[0.0, 0.0]]), jnp.array([1]),
    ...                jnp.array([1.0, 3.0])).tolist()
    1.5
  """
  return jnp.mean(class_weights[labels] * per_sample(outputs, labels))


def dynamical_cross_entropy(logits, labels, class_weights):
  r"""Mean class-weighted softmax cross-entropy (the paper's dynamical loss).

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
  return class_weighted(cross_entropy, logits, labels, class_weights)


def dynamical_mse_sample(outputs, labels, class_weights):
  r"""Dynamical MSE with per-sample weighting ("dmse_sample").

  .. math::
    F = \frac{1}{N} \sum_j \Gamma_{y_j}\, \tfrac12 \sum_a (f_a(x_j) - [a = y_j])^2

  Each sample's whole squared error is weighted by its class's factor, as the
  dynamical cross-entropy weights its sample's term.

  Args:
    outputs: ``(N, C)`` network outputs.
    labels: ``(N,)`` integer labels.
    class_weights: ``(C,)`` weights :math:`\Gamma`.

  Returns:
    Scalar loss.

  Examples:
    >>> outputs = jnp.array([[0.5, 0.5], [0.0, 2.0]])   # errors (-0.5, 0.5), (0, 1)
    >>> labels = jnp.array([0, 1])
    >>> float(dynamical_mse_sample(outputs, labels, jnp.ones(2)))   # (0.25 + 0.5) / 2
    0.375
    >>> float(dynamical_mse_sample(outputs, labels, jnp.array([2.0, 0.5])))  # (0.5 + 0.25) / 2
    0.375
    >>> float(dynamical_mse_sample(outputs, labels, jnp.array([0.5, 1.5])))  # (0.125 + 0.75) / 2
    0.4375
  """
  return class_weighted(mean_squared_error, outputs, labels, class_weights)


def dynamical_mse_output(outputs, labels, class_weights):
  r"""Dynamical MSE with per-output weighting ("dmse_output").

  .. math::
    F = \frac{1}{N} \sum_j \tfrac12 \sum_a \Gamma_a (f_a(x_j) - [a = y_j])^2

  Output :math:`a`'s error is weighted by class :math:`a`'s factor for every
  sample: the emphasised class's output is pulled towards 1 on its own samples
  and towards 0 on the others.

  Args:
    outputs: ``(N, C)`` network outputs.
    labels: ``(N,)`` integer labels.
    class_weights: ``(C,)`` weights :math:`\Gamma`.

  Returns:
    Scalar loss.

  Examples:
    >>> outputs = jnp.array([[0.5, 0.5], [0.0, 2.0]])   # errors (-0.5, 0.5), (0, 1)
    >>> labels = jnp.array([0, 1])
    >>> float(dynamical_mse_output(outputs, labels, jnp.ones(2)))
    0.375
    >>> # sample 0: (0.5 * 0.25 + 1.5 * 0.25) / 2 = 0.25; sample 1: 1.5 * 1 / 2 = 0.75
    >>> float(dynamical_mse_output(outputs, labels, jnp.array([0.5, 1.5])))
    0.5
  """
  errors = _output_errors(outputs, labels)
  return jnp.mean(0.5 * jnp.sum(class_weights * errors ** 2, axis=-1))


DYNAMICAL_LOSSES: dict[str, Callable] = {
    "cross_entropy": dynamical_cross_entropy,
    "dmse_sample": dynamical_mse_sample,
    "dmse_output": dynamical_mse_output,
}
"""Name -> dynamical loss ``fn(outputs, labels, class_weights)``, for configs and the CLI."""



def dynamical_loss(loss) -> Callable:
  """The dynamical loss named ``loss`` (see :data:`DYNAMICAL_LOSSES`), or ``loss`` itself
  when it is a function ``fn(outputs, labels, class_weights) -> scalar``.

  Examples:
    >>> dynamical_loss("dmse_output") is dynamical_mse_output
    True
    >>> dynamical_loss(dynamical_mse_sample) is dynamical_mse_sample
    True
    >>> dynamical_loss("hinge")
    Traceback (most recent call last):
    ...
    ValueError: loss must be one of ('cross_entropy', 'dmse_sample', 'dmse_output'), got loss='hinge'
  """
  if callable(loss):
    return loss
  checks.one_of("loss", loss, DYNAMICAL_LOSSES)
  return DYNAMICAL_LOSSES[loss]


def static_per_sample(loss, outputs, labels):
  r"""The static loss of each sample, :math:`F_{\Gamma = 1}` on that sample alone.

  Every dynamical loss is a mean over samples, so this is what it averages at weights 1:
  for ``"cross_entropy"`` it is :func:`cross_entropy`.

  Args:
    loss: a dynamical loss, by name or function.
    outputs: ``(N, C)`` network outputs.
    labels: ``(N,)`` integer labels.

  Returns:
    ``(N,)`` losses.

  Examples:
    >>> outputs, labels = jnp.array([[2.0, 0.0], [0.0, 1.0]]), jnp.array([0, 0])
    >>> bool((static_per_sample("cross_entropy", outputs, labels)
    ...       == cross_entropy(outputs, labels)).all())
    True
  """
  loss = dynamical_loss(loss)
  ones = jnp.ones(outputs.shape[-1], outputs.dtype)
  return jax.vmap(lambda o, l: loss(o[None], l[None], ones))(outputs, labels)
