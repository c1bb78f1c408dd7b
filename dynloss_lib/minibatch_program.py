"""The compiled functions of minibatch training (see :mod:`dynloss_lib.minibatch`).

A :class:`Program` holds the jitted training step, epoch and evaluation of
one model, optimiser and data size. The seed's draws and the dynamical
loss's amplitude, period and static start are arguments of those functions,
not constants inside them, so every run of a study that differs only in
these shares one compilation (:func:`program` caches them).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax

from dynloss_lib import cifar, convnets, losses, schedules


def optimizer(config, total_steps: int) -> optax.GradientTransformation:
  r"""SGD with Nesterov momentum and coupled weight decay on a warmup-cosine rate.

  .. math::
    \eta(t) = \begin{cases} \eta_0\, t / w & t < w \\
      \tfrac{\eta_0}{2}\left(1 + \cos \pi \tfrac{t - w}{S - w}\right) & t \ge w
    \end{cases}, \qquad g \leftarrow g + \lambda \theta,

  with :math:`w` the warmup steps (``warmup_fraction`` of the :math:`S` total).

  Args:
    config: a :class:`~dynloss_lib.minibatch.CifarConfig` (learning rate,
      warmup fraction, momentum, weight decay).
    total_steps: the run's optimiser steps :math:`S`.

  Returns:
    An optax gradient transformation.

  Examples:
    >>> from dynloss_lib.minibatch import CifarConfig
    >>> tx = optimizer(CifarConfig(learning_rate=0.1), total_steps=100)
    >>> params = {"w": jnp.ones(2)}
    >>> updates, _ = tx.update({"w": jnp.ones(2)}, tx.init(params), params)
    >>> updates["w"].tolist()  # step 0 of the warmup: learning rate 0
    [-0.0, -0.0]
  """
  warmup = min(max(1, round(config.warmup_fraction * total_steps)), max(1, total_steps - 1))
  schedule = optax.warmup_cosine_decay_schedule(0.0, config.learning_rate, warmup,
                                                max(warmup + 1, total_steps))
  return optax.chain(optax.add_decayed_weights(config.weight_decay),
                     optax.sgd(schedule, momentum=config.momentum or None, nesterov=True))


def compile_key(config):
  """``config`` with the fields that enter only as arguments (seed, A, T, static epochs) fixed."""
  return config.replace(seed=0, amplitude=1.0, period=1, static_epochs=0)


def class_weights(config) -> schedules.ClassWeights:
  r"""The minibatch runs' :math:`\Gamma` (``weights(step, hyper)``, float32): the config's shape."""
  return schedules.ClassWeights(cifar.NUM_CLASSES, config.shape, dtype="float32")


def train_step(model, tx, loss, weights, augment: bool, state, batch, hyper):
  r"""One minibatch step on the dynamical loss: augment, weigh by :math:`\Gamma(t)`, update.

  Args:
    model: the flax module (:func:`dynloss_lib.convnets.build`).
    tx: the optax optimiser (:func:`optimizer`).
    loss: a dynamical loss, by name or function (:func:`dynloss_lib.losses.dynamical_loss`).
    weights: the class weights ``weights(step, hyper)`` (:func:`class_weights`).
    augment: flip-and-crop the images first.
    state: ``{"params", "batch_stats", "opt_state", "step"}``.
    batch: ``(images uint8 NHWC, labels, key)``.
    hyper: the run's schedule values (:func:`dynloss_lib.schedules.hyper`).

  Returns:
    ``(state, metrics)``: the next state and float32 ``[loss, static loss, accuracy]`` of
    the batch before the update.
  """
  images, labels, key = batch
  images = cifar.normalise(images)
  if augment:
    images = cifar.augment(key, images)
  gamma = weights(state["step"], hyper)
  loss = losses.dynamical_loss(loss)

  def loss_fn(params):
    logits, updated = model.apply({"params": params, "batch_stats": state["batch_stats"]},
                                  images, train=True, mutable=["batch_stats"])
    return loss(logits, labels, gamma), (logits, updated)

  (value, (logits, updated)), grads = jax.value_and_grad(loss_fn, has_aux=True)(state["params"])
  updates, opt_state = tx.update(grads, state["opt_state"], state["params"])
  new_state = {"params": optax.apply_updates(state["params"], updates),
               "batch_stats": updated.get("batch_stats", state["batch_stats"]),
               "opt_state": opt_state, "step": state["step"] + 1}
  static = loss(logits, labels, jnp.ones_like(gamma))
  accuracy = jnp.mean(jnp.argmax(logits, -1) == labels)
  return new_state, jnp.stack([value, static, accuracy]).astype(jnp.float32)


class Program:
  """The jitted functions of a run, shared by the runs that differ only in seed and Gamma."""

  def __init__(self, config, steps_per_epoch: int, loop: str):
    self.config, self.loop = config, loop
    self.steps_per_epoch = steps_per_epoch
    self.total_steps = config.epochs * self.steps_per_epoch
    self.model = convnets.build(config.model, width=config.width, depth=config.depth,
                                widen_factor=config.widen_factor, dtype=config.dtype)
    self.tx = optimizer(config, self.total_steps)
    self.weights = class_weights(config)
    self.scan_epoch = jax.jit(self.epoch)
    self.orders = jax.jit(self._epoch_orders, static_argnums=1)
    self.step = jax.jit(self._gathered_step)
    self.eval_fn = jax.jit(self.evaluate)

  def train_step(self, state, batch, hyper):
    return train_step(self.model, self.tx, self.config.loss, self.weights, self.config.augment,
                      state, batch, hyper)

  def _epoch_orders(self, key, train_size):
    permutation_key, augment_key = jax.random.split(key)
    steps, size = self.steps_per_epoch, self.config.batch_size
    order = jax.random.permutation(permutation_key, train_size)[:steps * size]
    return order.reshape(steps, size), jax.random.split(augment_key, steps)

  def _gathered_step(self, state, x_train, y_train, indices, key, hyper):
    # Gather each minibatch inside the step so that the epoch's images are not copied.
    return self.train_step(state, (x_train[indices], y_train[indices], key), hyper)

  def epoch(self, state, key, x_train, y_train, hyper):
    """One epoch's steps as one ``lax.scan`` (not jitted: :attr:`scan_epoch` is):
    ``(state, mean [F, CE, accuracy] over its steps)``."""
    order, keys = self._epoch_orders(key, x_train.shape[0])
    step = lambda s, batch: self._gathered_step(s, x_train, y_train, *batch, hyper)
    state, metrics = jax.lax.scan(step, state, (order, keys))
    return state, metrics.mean(axis=0)

  def evaluate(self, state, x_batches, y_batches, mask):
    """Mean static loss and accuracy over padded batches ``(batches, size, ...)`` whose
    ``mask`` is 1 for real images (not jitted: :attr:`eval_fn` is)."""
    def body(totals, batch):
      images, labels, valid = batch
      logits = self.model.apply({"params": state["params"],
                                 "batch_stats": state["batch_stats"]},
                                cifar.normalise(images), train=False)
      terms = losses.static_per_sample(self.config.loss, logits, labels)  # the test loss
      correct = jnp.argmax(logits, -1) == labels
      return totals + jnp.stack([jnp.sum(terms * valid), jnp.sum(correct * valid)]), None
    totals, _ = jax.lax.scan(body, jnp.zeros(2, jnp.float32), (x_batches, y_batches, mask))
    return totals / jnp.sum(mask)


@functools.lru_cache(maxsize=8)
def program(key, steps_per_epoch: int, loop: str) -> Program:
  """The (cached) :class:`Program` of a :func:`compile_key`."""
  return Program(key, steps_per_epoch, loop)
