"""Many CIFAR-10 runs as one compiled program: a study's runs trained together.

:func:`dynloss_lib.minibatch.train` trains one run; on a GPU a run of a small network on
a 5,000-image subset leaves the device mostly idle. :func:`train_many` trains the runs
that share a compilation (:func:`~dynloss_lib.minibatch_program.compile_key`: they may
differ in seed, amplitude, period and static epochs) side by side: one jitted function
per epoch runs every run's steps (``vmap`` over runs of the epoch's ``lax.scan``) and
evaluates each on the test images (and, with ``train_eval_every``, the clean training
images) inside the same program. Each run keeps its own initialisation, data order and
augmentation (all from its seed, exactly as :func:`~dynloss_lib.minibatch.train` draws
them); the images go to the device once (:func:`device_data`). With several devices
the runs are split over them (a one-axis mesh, as the spiral grids).

A group's checkpoint (every ``checkpoint_every`` epochs) holds all its runs and is
removed when they finish. Runs trained together equal the same runs trained one by one
up to float rounding (vmapped convolutions may sum in another order); each run's
``epoch_seconds`` is its share of the group's epoch. On a CPU, XLA runs convolutions
inside a compiled loop slowly (see :mod:`dynloss_lib.minibatch`): there one run at a
time with :func:`~dynloss_lib.minibatch.train` is faster.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import time
import warnings
from typing import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from tqdm.auto import tqdm

from dynloss_lib import cifar, keyed_files, minibatch, training
from dynloss_lib.minibatch_program import compile_key

CHECKPOINT_NAME = "cifar10-group-checkpoint"


@dataclasses.dataclass(frozen=True)
class DeviceData:
  """A data set on the device, with its evaluation batches padded once.

  Attributes:
    x_train, y_train: the training images (uint8) and labels.
    test, train: ``(images, labels, mask)`` in batches of ``eval_batch_size`` (the mask is
      1 for real images, 0 for padding).
    fingerprint: :func:`dynloss_lib.cifar.fingerprint` of the host data (keys checkpoints).
    eval_batch_size: images per evaluation batch.
  """
  x_train: jax.Array
  y_train: jax.Array
  test: tuple
  train: tuple
  fingerprint: str
  eval_batch_size: int

  @property
  def train_size(self) -> int:
    return int(self.y_train.shape[0])


def _batches(x, y, size):
  count = len(y)
  size = min(size, count)
  batches = -(-count // size)
  pad = batches * size - count
  x = np.concatenate([x, np.zeros((pad, *x.shape[1:]), x.dtype)])
  y = np.concatenate([y, np.zeros(pad, y.dtype)])
  mask = (np.arange(batches * size) < count).astype(np.float32)
  return tuple(jnp.asarray(a.reshape(batches, size, *a.shape[1:])) for a in (x, y, mask))


def device_data(data: cifar.CifarData, eval_batch_size: int = 1000) -> DeviceData:
  """Put ``data`` on the default device once, evaluation batches padded (see :class:`DeviceData`).

  Examples:
    >>> rng = np.random.default_rng(0)
    >>> data = cifar.CifarData(rng.integers(0, 256, (8, 32, 32, 3), np.uint8), np.arange(8) % 10,
    ...                        rng.integers(0, 256, (5, 32, 32, 3), np.uint8), np.arange(5))
    >>> [a.shape for a in device_data(data, eval_batch_size=4).test]
    [(2, 4, 32, 32, 3), (2, 4), (2, 4)]
  """
  cifar.check_images(data.x_train, data.y_train, "training set")
  cifar.check_images(data.x_test, data.y_test, "test set")
  return DeviceData(jnp.asarray(data.x_train), jnp.asarray(data.y_train),
                    _batches(data.x_test, data.y_test, eval_batch_size),
                    _batches(data.x_train, data.y_train, eval_batch_size),
                    cifar.fingerprint(data), eval_batch_size)


@functools.lru_cache(maxsize=16)
def _group_program(program, train_eval: bool):
  """One epoch of every run of a group and their evaluations (test images; with
  ``train_eval`` the clean training images too) as one jitted function."""
  epoch = jax.vmap(program.epoch, in_axes=(0, 0, None, None, 0))
  evaluate = jax.vmap(program.evaluate, in_axes=(0, None, None, None))

  def run(states, keys, hypers, x_train, y_train, test, train):
    states, metrics = epoch(states, keys, x_train, y_train, hypers)
    values = [metrics, evaluate(states, *test)]
    if train_eval:
      values.append(evaluate(states, *train))
    return states, jnp.concatenate(values, axis=1)

  return jax.jit(run)


def _stack(trees):
  return jax.tree_util.tree_map(lambda *leaves: jnp.stack(leaves), *trees)


def _checkpoint_key(configs, data: DeviceData):
  return {"runs": [c.to_dict() for c in configs], "data": data.fingerprint}


def train_many(configs: Sequence[minibatch.CifarConfig], data: cifar.CifarData | DeviceData, *,
               devices: int | None = 1, checkpoint_dir=None, checkpoint_every: int = 10,
               progress: bool = True,
               on_run: Callable[[minibatch.CifarRun], None] | None = None
               ) -> list[minibatch.CifarRun]:
  """Train ``configs`` together, one compiled program per group that shares a compilation.

  Args:
    configs: the runs (their ``train_size``/``test_size`` must be None: pass the data
      they train on).
    data: the images, or :func:`device_data` of them (already on the device).
    devices: local devices to split each group's runs over (None: all).
    checkpoint_dir: where a group in progress keeps its checkpoint (None: none).
    checkpoint_every: epochs between checkpoints.
    progress: a progress bar over each group's epochs.
    on_run: called with each :class:`~dynloss_lib.minibatch.CifarRun` as its group ends
      (the group's checkpoint is removed after these calls, so that a run stored by
      ``on_run`` is never lost).

  Returns:
    One :class:`~dynloss_lib.minibatch.CifarRun` per config, in order.
  """
  sized = [c for c in configs if c.train_size is not None or c.test_size is not None]
  if sized:
    raise ValueError(f"train_many takes the data to train on, not train_size/test_size, got "
                     f"train_size={sized[0].train_size}, test_size={sized[0].test_size}")
  if not isinstance(data, DeviceData):
    data = device_data(data, configs[0].eval_batch_size if configs else 1000)
  mesh = training.run_mesh(devices)
  groups: dict = {}
  for index, config in enumerate(configs):
    groups.setdefault(compile_key(config), []).append(index)
  results: list = [None] * len(configs)
  for indices in groups.values():
    chosen = [configs[i] for i in indices]
    for i, run in zip(indices, _train_group(chosen, data, mesh, checkpoint_dir,
                                            checkpoint_every, progress)):
      results[i] = run
      if on_run is not None:
        on_run(run)
    if checkpoint_dir is not None:  # only now: the runs are kept (stored) by on_run
      keyed_files.path_for(checkpoint_dir, CHECKPOINT_NAME,
                           _checkpoint_key(chosen, data)).unlink(missing_ok=True)
  return results


def _train_group(configs, data: DeviceData, mesh, checkpoint_dir, checkpoint_every, progress):
  if configs[0].eval_batch_size != data.eval_batch_size:
    raise ValueError(f"the data's evaluation batches hold {data.eval_batch_size} images, got "
                     f"eval_batch_size={configs[0].eval_batch_size}")
  padded = configs + [configs[-1]] * (-len(configs) % mesh.size)  # whole shards
  trainers = [minibatch.Trainer(c, data.train_size, loop="scan") for c in padded]
  programs = {flag: _group_program(trainers[0].program, flag) for flag in (False, True)}
  evaluates_train = configs[0].evaluates_train
  shard = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec(training.RUN_AXIS))
  put = lambda tree: jax.device_put(tree, shard) if mesh.size > 1 else tree
  states = put(_stack([t.init_state() for t in trainers]))
  hypers = put(_stack([t.hyper for t in trainers]))
  seeds = put(jnp.stack([jax.random.PRNGKey(c.seed) for c in padded]))
  epochs = configs[0].epochs
  names = configs[0].history_names
  history = np.full((len(padded), epochs, len(names)), np.nan)
  key = _checkpoint_key(configs, data)
  start_epoch = 0
  if checkpoint_dir is not None:
    found = keyed_files.load(checkpoint_dir, CHECKPOINT_NAME, key)
    if found is not None:
      arrays, meta = found
      leaves, treedef = jax.tree_util.tree_flatten(states)
      states = put(jax.tree_util.tree_unflatten(treedef, [
          jnp.asarray(arrays[f"state/{i:04d}"], leaf.dtype) for i, leaf in enumerate(leaves)]))
      history, start_epoch = arrays["history"], int(meta["epochs_done"])
  bar = tqdm(total=epochs, initial=start_epoch, disable=not progress,
             desc=f"{len(configs)} {configs[0].model} runs")
  for epoch in range(start_epoch, epochs):
    begin = time.perf_counter()
    keys = jax.vmap(lambda k: jax.random.fold_in(k, epoch))(seeds)
    clean = evaluates_train(epoch)
    states, values = programs[clean](states, keys, hypers, data.x_train, data.y_train,
                                     data.test, data.train)
    values = np.asarray(values)  # waits for the epoch: its time is measured
    seconds = (time.perf_counter() - begin) / len(padded)  # each run's share
    row = [values[:, :5], np.full((len(padded), 1), seconds)]
    if configs[0].train_eval_every:
      row.append(values[:, 5:] if clean else np.full((len(padded), 2), np.nan))
    history[:, epoch] = np.concatenate(row, axis=1)
    bar.update(1)
    if checkpoint_dir is not None and (epoch + 1) % checkpoint_every == 0 and epoch + 1 < epochs:
      leaves = jax.tree_util.tree_leaves(states)
      arrays = {f"state/{i:04d}": np.asarray(leaf) for i, leaf in enumerate(leaves)}
      keyed_files.save(checkpoint_dir, CHECKPOINT_NAME, key, {**arrays, "history": history},
                       {"epochs_done": epoch + 1})
  bar.close()
  runs = []
  for i, config in enumerate(configs):
    rows = history[i]
    bad = ~(np.isfinite(rows[:, names.index("train_loss")])
            & np.isfinite(rows[:, names.index("test_loss")]))
    diverged = int(np.argmax(bad)) if bad.any() else None
    if diverged is not None:
      rows[diverged + 1:] = math.nan
      warnings.warn(f"CIFAR-10 run diverged in epoch {diverged + 1} of {epochs}; its later "
                    f"epochs are recorded as NaN: {config}", RuntimeWarning, stacklevel=3)
    state = jax.tree_util.tree_map(lambda leaf: np.asarray(leaf[i]), states)
    runs.append(minibatch.CifarRun(config, {n: rows[:, j] for j, n in enumerate(names)},
                                   state, diverged))
  return runs
