r"""A model small enough to draw: the poster's dog among the cats.

Eleven points sit on a circle at angles :math:`\phi_j`: one dog (class 1) at
:math:`0^\circ` and ten cats (class 0), five on each side of it between
:math:`50^\circ` and :math:`110^\circ` away. The model has one parameter, an angle
:math:`\theta`: it calls "dog" every point inside the arc of half-width
:math:`45^\circ` centred on :math:`\theta`,

.. math::
  z_j(\theta) = \kappa \left(\cos(\phi_j - \theta) - \cos 45^\circ\right),
  \qquad \text{logits}_j = (0, z_j),

with sharpness :math:`\kappa = 10`, trained on the dynamical cross-entropy of
:mod:`dynloss_lib.losses`. The arc must sit on the dog and off every cat
(:math:`\theta = 0`, the global minimum), but from the far side of the circle
it has to cross a group of cats to get there: with the static loss, the far
side is a local minimum where the dog is misclassified.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from dynloss_lib import losses, training

CAT_ANGLES = tuple(np.concatenate([np.linspace(50.0, 110.0, 5), -np.linspace(50.0, 110.0, 5)]))
DOG_ANGLE = 0.0
KAPPA = 10.0
HALF_WIDTH = 45.0


def dog_among_cats() -> tuple[np.ndarray, np.ndarray]:
  """The toy data: angles in radians ``(11, 1)`` and labels (0 cat, 1 dog).

  Returns:
    ``(x, y)``: ten cats then the dog.

  Examples:
    >>> x, y = dog_among_cats()
    >>> x.shape, y.tolist()
    ((11, 1), [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1])
  """
  angles = np.deg2rad(np.array(CAT_ANGLES + (DOG_ANGLE,)))
  labels = np.array([0] * len(CAT_ANGLES) + [1])
  return angles[:, None], labels


def apply(theta, x):
  """Logits ``(N, 2)`` of the arc classifier centred on ``theta`` (radians).

  Args:
    theta: the model's one parameter, a scalar angle.
    x: ``(N, 1)`` angles of the points.

  Returns:
    ``(N, 2)`` logits (cat, dog).

  Examples:
    >>> x, _ = dog_among_cats()
    >>> np.asarray(jnp.argmax(apply(0.0, x), axis=-1)).tolist()
    [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]
  """
  z = KAPPA * (jnp.cos(x[:, 0] - theta) - np.cos(np.deg2rad(HALF_WIDTH)))
  return jnp.stack([jnp.zeros_like(z), z], axis=-1)


def landscape(thetas, gamma) -> np.ndarray:
  r"""The dynamical loss :math:`F_\Gamma(\theta)` on a grid of angles.

  Args:
    thetas: ``(M,)`` angles in radians.
    gamma: ``(2,)`` class weights (cat, dog).

  Returns:
    ``(M,)`` loss values.

  Examples:
    >>> thetas = np.deg2rad(np.array([0.0, 180.0]))
    >>> values = landscape(thetas, np.ones(2))
    >>> bool(values[0] < values[1])
    True
  """
  x, y = dog_among_cats()
  gamma = jnp.asarray(gamma, jnp.float64)
  loss = lambda t: losses.dynamical_cross_entropy(apply(t, jnp.asarray(x)), y, gamma)
  return np.asarray(jax.vmap(loss)(jnp.asarray(thetas, jnp.float64)))


def local_minima(values, periodic: bool = False) -> np.ndarray:
  """Indices of the strict local minima of a sampled curve.

  Args:
    values: ``(M,)`` samples.
    periodic: the samples go once around a circle (the last one is next to the
      first); otherwise the two end points are never minima.

  Returns:
    Indices ``i`` with ``values[i-1] > values[i] < values[i+1]``.

  Examples:
    >>> local_minima(np.array([3.0, 1.0, 2.0, 0.5, 4.0])).tolist()
    [1, 3]
    >>> local_minima(np.array([0.0, 1.0, 2.0, 1.0]), periodic=True).tolist()
    [0]
  """
  values = np.asarray(values)
  lower = (values < np.roll(values, 1)) & (values < np.roll(values, -1))
  if not periodic:
    lower[[0, -1]] = False
  return np.flatnonzero(lower)


def descend(theta0: float, schedule, learning_rate: float, steps: int,
            record_every: int = 1) -> dict[str, np.ndarray]:
  r"""Gradient descent on the toy's dynamical loss from ``theta0``.

  Args:
    theta0: starting angle in radians.
    schedule: ``schedule(step) -> (2,)`` class weights (see
      :mod:`dynloss_lib.schedules`).
    learning_rate: GD learning rate.
    steps: number of steps.
    record_every: record every this many steps.

  Returns:
    ``step``, ``theta`` (radians), ``loss`` (F), ``static_loss``,
    ``accuracy`` and ``gamma`` over the records, and ``final_theta``.

  Examples:
    >>> from dynloss_lib import schedules
    >>> out = descend(np.deg2rad(170.0), schedules.constant(2), 0.5, 200)
    >>> round(float(np.rad2deg(out["final_theta"])))  # stuck far from the dog
    158
  """
  x, y = dog_among_cats()
  probes = {"theta": training.Probe(lambda params, gamma: params)}  # the angle itself
  result = training.gradient_descent(
      apply, jnp.asarray(theta0, jnp.float64), jnp.asarray(x), y, schedule,
      learning_rate=learning_rate, steps=steps, record_every=record_every, probes=probes)
  return {"step": result.record_steps, "theta": result.history["theta"][0],
          "loss": result.history["loss"][0], "static_loss": result.history["static_loss"][0],
          "accuracy": result.history["train_accuracy"][0], "gamma": result.history["gamma"][0],
          "final_theta": np.asarray(result.params[0])}
