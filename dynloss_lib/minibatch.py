r"""Minibatch training on CIFAR-10 with a dynamical loss (optax, one jitted scan per epoch).

One optimiser step :math:`t` on a minibatch :math:`B` minimises

.. math::
  F_t = -\frac{1}{|B|} \sum_{j \in B} \Gamma_{y_j}(t)\,
        \log \operatorname{softmax}(f(x_j))_{y_j},

with :math:`\Gamma(t)` the triangle schedule of :mod:`dynloss_lib.schedules`
evaluated at the optimiser step: **the period T counts optimiser steps** (a
cycle lasts T + 1 steps, and the emphasised class moves on to the next of the
10 classes each cycle). :func:`epochs_to_steps` converts a period in epochs.
``amplitude = 1`` is the static cross-entropy, and the last ``static_epochs``
epochs of a run train with it whatever the amplitude (as the spiral runs end
on a static cycle), so that the final network is not tilted towards the last
emphasised class. A dynamical run whose oscillating part ends mid-round gives
some classes fewer turns than others: :func:`dynloss_lib.schedules.whole_round_periods`
lists the periods whose rounds fit.

The optimiser is SGD with Nesterov momentum and coupled weight decay
(``optax.add_decayed_weights`` then ``optax.sgd``) on a warmup-cosine learning
rate schedule (linear from 0 to the peak over ``warmup_fraction`` of the steps,
then cosine to 0). Each epoch draws a permutation, drops the last incomplete
minibatch, applies flip-and-crop augmentation per image, and runs all its
steps in one jitted ``lax.scan``; the test set is evaluated after every epoch.
On a CPU the steps run instead as a Python loop over one jitted step (the same
function): XLA:CPU runs convolutions inside a compiled loop about 50 times more
slowly than outside one (measured on this project's 2-core machine).

Every random draw of epoch ``e`` derives from ``fold_in(PRNGKey(seed), e)``, so
a run restarted from a checkpoint written after any epoch continues exactly as
if it had never stopped.
"""

from __future__ import annotations

import dataclasses
import math
import time
import warnings
from typing import Any, Callable, ClassVar

import jax
import jax.numpy as jnp
import numpy as np
from tqdm.auto import tqdm

from dynloss_lib import checks, cifar, convnets, keyed_files, losses, schedules
from dynloss_lib.minibatch_program import compile_key, program

CHECKPOINT_NAME = "cifar10-checkpoint"
LOOPS = ("scan", "python")


def steps_per_epoch(train_size: int, batch_size: int) -> int:
  """Optimiser steps per epoch: ``train_size // batch_size`` (the rest is dropped).

  Examples:
    >>> steps_per_epoch(5085, 128)
    39
  """
  if batch_size > train_size:
    raise ValueError(f"batch_size must not exceed the training set ({train_size} images), "
                     f"got {batch_size=}")
  return train_size // batch_size


def epochs_to_steps(epochs: float, train_size: int, batch_size: int) -> int:
  """A period in epochs as a period T in optimiser steps (rounded, at least 1).

  Args:
    epochs: the period in epochs.
    train_size: training images.
    batch_size: minibatch size.

  Returns:
    ``max(1, round(epochs * steps_per_epoch))``.

  Examples:
    >>> epochs_to_steps(2, train_size=50_000, batch_size=512)
    194
  """
  checks.number("epochs", epochs, above=0)
  return max(1, round(epochs * steps_per_epoch(train_size, batch_size)))


@dataclasses.dataclass(frozen=True)
class CifarConfig:
  """Everything that determines one CIFAR-10 run (given the data).

  Attributes:
    model: ``"myrtle5"`` or ``"wrn"``.
    width: Myrtle5 channels (the paper's 64).
    depth: Wide ResNet depth (``6 n + 4``).
    widen_factor: Wide ResNet widening factor.
    epochs: training epochs.
    batch_size: minibatch size (must not exceed the training set).
    learning_rate: peak learning rate.
    warmup_fraction: fraction of the steps spent warming up linearly.
    momentum: Nesterov momentum.
    weight_decay: coupled L2 weight decay on every parameter.
    amplitude: :math:`A \\ge 1` of the triangle :math:`\\Gamma`; 1 is static.
    period: :math:`T` in optimiser steps (cycles of T + 1 steps).
    static_epochs: the last this many epochs use the static loss
      (:math:`\\Gamma = 1`); 0: the dynamical loss to the end.
    augment: flip-and-crop augmentation.
    loss: a name of :data:`dynloss_lib.losses.DYNAMICAL_LOSSES` (default the
      paper's ``"cross_entropy"``).
    shape: the shape of :math:`\\Gamma` over a cycle (:data:`dynloss_lib.schedules.SHAPES`).
    dtype: ``"float32"`` or ``"bfloat16"`` (computation; parameters float32).
    seed: seed of the initialisation, the permutations and the augmentation.
    train_size: use the first this many training images (None: all).
    test_size: use the first this many test images (None: all).
    eval_batch_size: test images per evaluation batch.
    train_eval_every: also evaluate the (unaugmented) training images every this many
      epochs and after the last (0: never); the history's ``clean_train_loss`` and
      ``clean_train_accuracy`` (NaN in the epochs between).
  """
  model: str = "myrtle5"
  width: int = 64
  depth: int = 16
  widen_factor: int = 4
  epochs: int = 30
  batch_size: int = 512
  learning_rate: float = 0.1
  warmup_fraction: float = 0.15
  momentum: float = 0.9
  weight_decay: float = 5e-4
  amplitude: float = 1.0
  period: int = 100
  static_epochs: int = 0
  augment: bool = True
  loss: str = "cross_entropy"
  shape: str = "triangle"
  dtype: str = "float32"
  seed: int = 0
  train_size: int | None = None
  test_size: int | None = None
  eval_batch_size: int = 1000
  train_eval_every: int = 0

  def __post_init__(self):
    convnets.build(self.model, width=self.width, depth=self.depth,
                   widen_factor=self.widen_factor, dtype=self.dtype)
    schedules._check_common(self.amplitude, self.period, cifar.NUM_CLASSES, None)
    losses.dynamical_loss(self.loss)
    checks.one_of("shape", self.shape, schedules.SHAPES)
    for name in ("epochs", "batch_size", "eval_batch_size", "train_size", "test_size"):
      if getattr(self, name) is not None:
        checks.integer(name, getattr(self, name))
    checks.integer("seed", self.seed, minimum=0)
    checks.integer("static_epochs", self.static_epochs, minimum=0, maximum=self.epochs)
    checks.integer("train_eval_every", self.train_eval_every, minimum=0)
    checks.number("learning_rate", self.learning_rate, above=0)
    checks.number("weight_decay", self.weight_decay, minimum=0)
    for name in ("warmup_fraction", "momentum"):
      checks.number(name, getattr(self, name), minimum=0, below=1)
    checks.as_python_ints(self, ("width", "depth", "widen_factor", "epochs", "batch_size",
                                 "period", "static_epochs", "seed", "eval_batch_size",
                                 "train_size", "test_size", "train_eval_every"))

  ADDED_FIELDS: ClassVar[dict] = {"loss": "cross_entropy", "shape": "triangle",
                                  "train_eval_every": 0}
  """Fields added after results were first stored, and their defaults."""

  def to_dict(self) -> dict[str, Any]:
    """The fields that define the run (:func:`dynloss_lib.checks.config_dict`)."""
    return checks.config_dict(self)

  def replace(self, **changes) -> "CifarConfig":
    return dataclasses.replace(self, **changes)

  def evaluates_train(self, epoch: int) -> bool:
    """Whether the training images are evaluated after ``epoch`` (from 0).

    Examples:
      >>> config = CifarConfig(epochs=12, train_eval_every=5)
      >>> [e for e in range(12) if config.evaluates_train(e)]
      [4, 9, 11]
    """
    every = self.train_eval_every
    return bool(every) and ((epoch + 1) % every == 0 or epoch == self.epochs - 1)

  @property
  def history_names(self) -> tuple[str, ...]:
    """The per-epoch series of a run's history (:class:`CifarRun`)."""
    return HISTORY + (TRAIN_EVAL_HISTORY if self.train_eval_every else ())


@dataclasses.dataclass
class CifarRun:
  """A finished (or resumed and finished) run.

  Attributes:
    config: its :class:`CifarConfig`.
    history: per-epoch arrays ``train_loss`` (mean F over the epoch's steps),
      ``train_static_loss``, ``train_accuracy`` (on the augmented minibatches),
      ``test_loss`` (static), ``test_accuracy``, ``epoch_seconds``, and with
      ``train_eval_every`` the ``clean_train_loss`` and ``clean_train_accuracy``.
    state: final ``{"params", "batch_stats", "opt_state", "step"}``.
    diverged_epoch: the first epoch (from 0) whose training or test loss was
      not finite, or None. Training stops there: that epoch's record is kept
      and the later ones are NaN.
  """
  config: CifarConfig
  history: dict[str, np.ndarray]
  state: Any
  diverged_epoch: int | None = None


class Trainer:
  """The compiled pieces of a run: initialisation, one epoch, evaluation.

  Runs that differ only in seed, amplitude, period and ``static_epochs``
  share one compilation (those enter the compiled functions as arguments),
  so a study's seeds and sweep cells compile once per model and data size.

  Args:
    config: the run.
    train_size: training images (fixes the steps per epoch).
    loop: ``"scan"`` (one jitted ``lax.scan`` per epoch), ``"python"`` (a
      Python loop over a jitted step), or None: ``"python"`` on a CPU,
      ``"scan"`` elsewhere.

  Examples:
    >>> trainer = Trainer(CifarConfig(width=2, batch_size=4, epochs=1), train_size=8)
    >>> trainer.steps_per_epoch, int(trainer.init_state()["step"])
    (2, 0)
  """

  def __init__(self, config: CifarConfig, train_size: int, loop: str | None = None):
    if loop is None:
      loop = "python" if jax.default_backend() == "cpu" else "scan"
    if loop not in LOOPS:
      raise ValueError(f"loop must be one of {LOOPS} or None, got {loop=}")
    self.config = config
    self._program = program(compile_key(config), steps_per_epoch(train_size, config.batch_size),
                            loop)
    self.loop = loop
    self.steps_per_epoch = self._program.steps_per_epoch
    self.total_steps = self._program.total_steps
    self.model, self.tx = self._program.model, self._program.tx
    values = schedules.hyper(config.amplitude, config.period, static_from=self.static_from)
    self.hyper = {**values, "amplitude": jnp.asarray(config.amplitude, jnp.result_type(float)),
                  "period": jnp.asarray(config.period),
                  "static_from": jnp.asarray(values["static_from"])}

  @property
  def program(self):
    """The compiled functions this run shares (:class:`~dynloss_lib.minibatch_program.Program`)."""
    return self._program

  def init_state(self):
    variables = self.model.init(jax.random.PRNGKey(self.config.seed),
                                jnp.zeros((1, 32, 32, 3), jnp.float32))
    params = variables["params"]
    return {"params": params, "batch_stats": variables.get("batch_stats", {}),
            "opt_state": self.tx.init(params), "step": jnp.zeros((), jnp.int32)}

  @property
  def static_from(self) -> int | None:
    """First optimiser step of the final static epochs (None if ``static_epochs == 0``)."""
    if self.config.static_epochs == 0:
      return None
    return (self.config.epochs - self.config.static_epochs) * self.steps_per_epoch

  def gamma(self, step):
    """Class weights at optimiser step ``step`` (float32)."""
    return self._program.weights(step, self.hyper)

  def _train_step(self, state, batch):
    return self._program.train_step(state, batch, self.hyper)

  def epoch_fn(self, state, key, x_train, y_train):
    """One epoch: ``(state, key, x_train, y_train) -> (state, mean [F, CE, accuracy])``."""
    program = self._program
    if self.loop == "scan":
      return program.scan_epoch(state, key, x_train, y_train, self.hyper)
    order, keys = program.orders(key, x_train.shape[0])
    metrics = []
    for indices, step_key in zip(order, keys):
      state, values = program.step(state, x_train, y_train, indices, step_key, self.hyper)
      metrics.append(values)
    return state, jnp.stack(metrics).mean(axis=0)

  def evaluate(self, state, x_test, y_test):
    """``(static loss, accuracy)`` on a test set (any size; padded and masked)."""
    size = min(self.config.eval_batch_size, len(y_test))
    batches = -(-len(y_test) // size)
    pad = batches * size - len(y_test)
    x = np.concatenate([x_test, np.zeros((pad, *x_test.shape[1:]), x_test.dtype)])
    y = np.concatenate([y_test, np.zeros(pad, y_test.dtype)])
    mask = (np.arange(batches * size) < len(y_test)).astype(np.float32)
    loss, accuracy = self._program.eval_fn(state, x.reshape(batches, size, *x.shape[1:]),
                                           y.reshape(batches, size),
                                           mask.reshape(batches, size))
    return float(loss), float(accuracy)

  def epoch_key(self, epoch: int):
    return jax.random.fold_in(jax.random.PRNGKey(self.config.seed), epoch)


HISTORY = ("train_loss", "train_static_loss", "train_accuracy", "test_loss", "test_accuracy",
           "epoch_seconds")
TRAIN_EVAL_HISTORY = ("clean_train_loss", "clean_train_accuracy")


def _checkpoint_config(config, data_id):
  return {"run": config.to_dict(), "data": data_id}


def _save_checkpoint(directory, config, data_id, state, history, epoch):
  leaves = jax.tree_util.tree_leaves(state)
  arrays = {f"state/{i:04d}": np.asarray(leaf) for i, leaf in enumerate(leaves)}
  arrays.update({f"history/{k}": np.asarray(v) for k, v in history.items()})
  keyed_files.save(directory, CHECKPOINT_NAME, _checkpoint_config(config, data_id), arrays,
                   {"epochs_done": epoch})


def _load_checkpoint(directory, config, data_id, template):
  found = keyed_files.load(directory, CHECKPOINT_NAME, _checkpoint_config(config, data_id))
  if found is None:
    return None
  arrays, meta = found
  leaves, treedef = jax.tree_util.tree_flatten(template)
  stored = [arrays[f"state/{i:04d}"] for i in range(len(leaves))]
  state = jax.tree_util.tree_unflatten(
      treedef, [jnp.asarray(s, dtype=leaf.dtype) for s, leaf in zip(stored, leaves)])
  history = {k: list(arrays[f"history/{k}"]) for k in config.history_names}
  return state, history, int(meta["epochs_done"])


def train(config: CifarConfig, data: cifar.CifarData, *, checkpoint_dir=None,
          progress: bool = True, loop: str | None = None,
          on_epoch: Callable[[int, dict], None] | None = None) -> CifarRun:
  """Train one configuration, evaluating on the test set after every epoch.

  With ``checkpoint_dir``, the state and history are saved (atomically)
  after every epoch, and a later call with the same configuration and data
  resumes after the last saved epoch; the checkpoint is removed at the end.

  Args:
    config: the run.
    data: the images (:func:`dynloss_lib.cifar.cifar10`); ``config.train_size``
      and ``config.test_size`` select their first images.
    checkpoint_dir: folder for the resumable checkpoint (None: none).
    progress: show a progress bar over epochs.
    loop: how an epoch's steps run (see :class:`Trainer`).
    on_epoch: called as ``on_epoch(epoch, history)`` after each epoch.

  Returns:
    A :class:`CifarRun`.

  Examples:
    >>> rng = np.random.default_rng(0)
    >>> data = cifar.CifarData(rng.integers(0, 256, (8, 32, 32, 3), np.uint8),
    ...                        np.arange(8) % 10, rng.integers(0, 256, (4, 32, 32, 3), np.uint8),
    ...                        np.arange(4))
    >>> run = train(CifarConfig(width=2, batch_size=4, epochs=2), data, progress=False)
    >>> run.history["test_accuracy"].shape
    (2,)
  """
  data = cifar.subset(data, config.train_size, config.test_size)
  cifar.check_images(data.x_train, data.y_train, "training set")
  cifar.check_images(data.x_test, data.y_test, "test set")
  trainer = Trainer(config, len(data.y_train), loop)
  state = trainer.init_state()
  history = {k: [] for k in config.history_names}
  start_epoch = 0
  data_id = cifar.fingerprint(data) if checkpoint_dir is not None else None
  if checkpoint_dir is not None:
    resumed = _load_checkpoint(checkpoint_dir, config, data_id, state)
    if resumed is not None:
      state, history, start_epoch = resumed
  x_train, y_train = jnp.asarray(data.x_train), jnp.asarray(data.y_train)
  bar = tqdm(total=config.epochs, initial=start_epoch, disable=not progress,
             desc=f"{config.model} A={config.amplitude:g} T={config.period} seed {config.seed}")
  diverged_epoch = None
  for epoch in range(start_epoch, config.epochs):
    start = time.perf_counter()
    state, metrics = trainer.epoch_fn(state, trainer.epoch_key(epoch), x_train, y_train)
    metrics = np.asarray(metrics)
    seconds = time.perf_counter() - start
    test_loss, test_accuracy = trainer.evaluate(state, data.x_test, data.y_test)
    clean = (trainer.evaluate(state, data.x_train, data.y_train)
             if config.evaluates_train(epoch) else (math.nan, math.nan))
    for name, value in zip(config.history_names,
                           (*metrics, test_loss, test_accuracy, seconds, *clean)):
      history[name].append(float(value))
    if not (np.isfinite(metrics[0]) and np.isfinite(test_loss)):
      diverged_epoch = epoch
      warnings.warn(f"CIFAR-10 run diverged in epoch {epoch + 1} of {config.epochs} (training loss {metrics[0]}, "
                    f"test loss {test_loss}); training stopped, the remaining "
                    f"{config.epochs - epoch - 1} epochs are recorded as NaN: {config}",
                    RuntimeWarning, stacklevel=2)
      for name in config.history_names:
        history[name] += [math.nan] * (config.epochs - epoch - 1)
      bar.update(1)
      break
    if checkpoint_dir is not None:
      _save_checkpoint(checkpoint_dir, config, data_id, state, history, epoch + 1)
    bar.update(1)
    bar.set_postfix(test_accuracy=f"{test_accuracy:.3f}")
    if on_epoch is not None:
      on_epoch(epoch, history)
  bar.close()
  if checkpoint_dir is not None:
    keyed_files.path_for(checkpoint_dir, CHECKPOINT_NAME,
                         _checkpoint_config(config, data_id)).unlink(missing_ok=True)
  return CifarRun(config, {k: np.asarray(v) for k, v in history.items()}, state, diverged_epoch)
