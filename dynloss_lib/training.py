r"""Full-batch gradient descent on a dynamical loss, compiled as ``lax.scan``.

One training step at step :math:`t` is

.. math::
  \theta_{t+1} = \theta_t - \eta\, \nabla_\theta F_{\Gamma(t)}(\theta_t).

The whole run is a scan over steps, cut into chunks so that long runs show a
progress bar. Runs are vmapped over a leading "run" axis, so a grid of
amplitudes, periods, seeds and learning rates shares one compilation; one run per
device keeps an axis of size 1 on a CPU pinned to an instruction set (the program of
every stored trajectory) and drops it elsewhere (see ``run_batch``'s ``run_axis``).
Each record holds the values *before* that step's update: the dynamical loss F, the
static cross-entropy, the train accuracy and Gamma (plus the validation accuracy and
user probes when asked for).

A run whose loss or gradient becomes non-finite stops updating at that step and
is reported as diverged there; its later records are NaN. A chunk runs first with its recorded
steps unchecked (the check costs kernels, which a GPU pays for), and again fully checked only if
a run blew up unseen in it: a non-finite parameter stays so, and both round alike (tested).
"""

from __future__ import annotations

import collections
import dataclasses
import functools
import warnings
from typing import Any, Callable, Mapping

import jax
import jax.numpy as jnp
import numpy as np

with warnings.catch_warnings():  # without ipywidgets, tqdm.auto warns and uses text bars
  warnings.simplefilter("ignore")
  from tqdm.auto import tqdm

from dynloss_lib import checks, losses, provenance
from dynloss_lib.checks import check_dataset
from dynloss_lib.function_keys import function_key

DEFAULT_CHUNK_STEPS = 5_000


@dataclasses.dataclass(frozen=True)
class Probe:
  """A measurement taken inside the compiled loop every ``every`` records.

  Attributes:
    fn: ``fn(params, gamma) -> array`` of a fixed shape, evaluated on the
      parameters before the recorded step's update; with ``reads="outputs"``,
      ``fn(outputs, gamma)`` on the training set's outputs that the step computes
      anyway (its forward pass is shared, not repeated).
    every: take it every ``every`` records (NaN in between).
    reads: ``"params"`` or ``"outputs"``.
  """
  fn: Callable[[Any, jnp.ndarray], jnp.ndarray]
  every: int = 1
  reads: str = "params"

  def __post_init__(self):
    checks.integer("every", self.every)
    checks.one_of("reads", self.reads, ("params", "outputs"))


@dataclasses.dataclass
class BatchResult:
  """Results of a batch of runs (leading axis: run).

  Attributes:
    record_steps: ``(R,)`` steps at which records were taken.
    history: name -> ``(runs, R, ...)`` arrays: ``loss`` (F), ``static_loss``,
      ``train_accuracy``, ``gamma``, optionally ``val_accuracy`` and probes.
    final: name -> ``(runs,)`` arrays of the same metrics after the last step.
    diverged_step: ``(runs,)`` step at which the loss or gradient became
      non-finite, -1 for runs that did not diverge.
    params: final parameters, a pytree with a leading run axis.
  """
  record_steps: np.ndarray
  history: dict[str, np.ndarray]
  final: dict[str, np.ndarray]
  diverged_step: np.ndarray
  params: Any


def _check_run_args(steps, record_every, learning_rates):
  checks.integer("steps", steps)
  checks.integer("record_every", record_every)
  for learning_rate in np.atleast_1d(np.asarray(learning_rates, dtype=float)).tolist():
    checks.number("learning_rate", learning_rate, above=0)


def _metrics(apply_fn, loss_fn, params, x, y, gamma):
  outputs = apply_fn(params, x)
  loss = loss_fn(outputs, y, gamma)
  static_loss = loss_fn(outputs, y, jnp.ones_like(gamma))
  accuracy = jnp.mean((jnp.argmax(outputs, axis=-1) == y).astype(loss.dtype))
  return loss, (static_loss, accuracy, outputs)


def gd_step(apply_fn: Callable, loss_fn: Callable, params, x, y, gamma, learning_rate,
            active=True):
  r"""One full-batch gradient-descent step on the dynamical loss, :math:`\theta - \eta \nabla F_\Gamma`.

  The engine's scan calls it at every step; it can be called (and jitted) on its own.

  Args:
    apply_fn: ``apply_fn(params, x) -> outputs``.
    loss_fn: a dynamical loss ``loss_fn(outputs, labels, class_weights) -> scalar``.
    params: the parameters.
    x, y: the training set.
    gamma: ``(C,)`` class weights :math:`\Gamma`.
    learning_rate: :math:`\eta`.
    active: False leaves the parameters unchanged (past the end, or after a divergence).

  Returns:
    ``(params, finite, (loss, static_loss, accuracy))``: the updated parameters (unchanged
    unless ``active`` and the loss and gradient are finite), whether they were finite, and
    the metrics *before* the step.

  Examples:
    >>> apply_fn = lambda w, x: x @ w
    >>> x, y = jnp.eye(2), jnp.array([0, 1])
    >>> new, finite, (loss, _, accuracy) = gd_step(apply_fn, losses.dynamical_mse_sample,
    ...                                            jnp.zeros((2, 2)), x, y, jnp.ones(2), 0.5)
    >>> new.tolist(), bool(finite), float(loss)   # grad of (1/2) mean_j |x_j w - e_j|^2 is -I/2
    ([[0.25, 0.0], [0.0, 0.25]], True, 0.5)
  """
  return _update(apply_fn, loss_fn, params, x, y, gamma, learning_rate, active)[:3]


def _update(apply_fn, loss_fn, params, x, y, gamma, learning_rate, active, check=True):
  """:func:`gd_step`, and the outputs on ``x`` that it computed; ``check=False`` updates
  (if ``active``) without looking at the loss and gradient, and calls them finite."""
  (loss, (static_loss, accuracy, outputs)), grads = jax.value_and_grad(
      functools.partial(_metrics, apply_fn, loss_fn), has_aux=True)(params, x, y, gamma)
  # One check of one vector, where a check per leaf would take about three kernels a leaf
  # (on a GPU every kernel of the step shows).
  finite = jnp.all(jnp.isfinite(jnp.concatenate(
      [jnp.ravel(loss)] + [jnp.ravel(g) for g in jax.tree_util.tree_leaves(grads)]))) if check \
      else jnp.bool_(True)
  update = active & finite
  params = jax.tree_util.tree_map(lambda p, g: jnp.where(update, p - learning_rate * g, p),
                                  params, grads)
  return params, finite, (loss, static_loss, accuracy), outputs


def _accuracy(apply_fn, params, x, y):
  logits = apply_fn(params, x)
  return jnp.mean((jnp.argmax(logits, axis=-1) == y).astype(logits.dtype))


def _over_runs(fn, in_axes, mesh, run_axis=True):
  """vmap ``fn`` over the run axis; with a mesh, split that axis over its devices.

  Each device runs the same per-device program on its block of runs (shard_map),
  so a run's arithmetic is that of a batch of ``runs / devices`` on one device,
  whatever the number of devices. Without ``run_axis``, a block of one run drops the
  axis around ``fn``: another program, so another rounding of each step.
  """
  def lone(*args):
    args = [a if axis is None else jax.tree_util.tree_map(lambda v: v[0], a)
            for a, axis in zip(args, in_axes)]
    return jax.tree_util.tree_map(lambda v: v[None], fn(*args))
  per_device = jax.vmap(fn, in_axes=in_axes) if run_axis else lone
  if mesh is None:
    return jax.jit(per_device)
  runs = jax.sharding.PartitionSpec(RUN_AXIS)
  replicated = jax.sharding.PartitionSpec()
  specs = tuple(runs if axis == 0 else replicated for axis in in_axes)
  return jax.jit(jax.shard_map(per_device, mesh=mesh, in_specs=specs, out_specs=runs))


RUN_AXIS = "runs"
"""Name of the mesh axis over which a grid's runs are split."""


MAX_COMPILED = 16
"""Compiled runners kept (least recently used first out)."""
_RUNNERS: collections.OrderedDict = collections.OrderedDict()


def _compiled_runner(apply_fn, loss_fn, weights_fn, total_steps, record_every, chunk_records,
                     probes, with_validation, mesh=None, run_axis=True):
  """The jitted chunk and final-eval functions, built once per
  :func:`~dynloss_lib.function_keys.function_key` of the functions and the static settings
  (at most :data:`MAX_COMPILED` kept)."""
  key = (function_key(apply_fn), function_key(loss_fn), function_key(weights_fn), total_steps,
         record_every, chunk_records,
         tuple((function_key(p.fn), p.every, p.reads) for p in probes), with_validation, mesh,
         run_axis)
  if key in _RUNNERS:
    _RUNNERS.move_to_end(key)
    return _RUNNERS[key]
  runner = _build_runner(apply_fn, loss_fn, weights_fn, total_steps, record_every,
                         chunk_records, probes, with_validation, mesh, run_axis)
  _RUNNERS[key] = runner
  if len(_RUNNERS) > MAX_COMPILED:
    _RUNNERS.popitem(last=False)
  return runner


def _build_runner(apply_fn, loss_fn, weights_fn, total_steps, record_every, chunk_records,
                  probes, with_validation, mesh, run_axis):
  metrics = functools.partial(_metrics, apply_fn, loss_fn)

  def one_step(carry, step, data, lr, hyper, check=True):
    params, diverged_step = carry
    gamma = weights_fn(step, hyper)
    active = (step < total_steps) & (diverged_step < 0)
    params, finite, (loss, static_loss, accuracy), outputs = _update(
        apply_fn, loss_fn, params, data[0], data[1], gamma, lr, active, check)
    diverged_step = jnp.where(active & ~finite, step, diverged_step)
    return (params, diverged_step), (loss, static_loss, accuracy, gamma), outputs

  def measure(probe, record_index, value, gamma):
    shape = jax.eval_shape(probe.fn, value, gamma)
    return jax.lax.cond(record_index % probe.every == 0,
                        lambda v, g: jnp.asarray(probe.fn(v, g), shape.dtype),
                        lambda v, g: jnp.full(shape.shape, jnp.nan, shape.dtype), value, gamma)

  def record_block(carry, record_index, data, lr, hyper, checked):
    first = record_index * record_every
    params = carry[0]
    extra = []
    if with_validation:
      extra.append(_accuracy(apply_fn, params, data[2], data[3]))
    gamma_now = weights_fn(first, hyper)
    measured = {i: measure(p, record_index, params, gamma_now)
                for i, p in enumerate(probes) if p.reads == "params"}
    carry, metrics, outputs = one_step(carry, first, data, lr, hyper, checked)
    measured.update({i: measure(p, record_index, outputs, gamma_now)
                     for i, p in enumerate(probes) if p.reads == "outputs"})
    extra += [measured[i] for i in range(len(probes))]
    carry = jax.lax.fori_loop(
        1, record_every, lambda i, c: one_step(c, first + i, data, lr, hyper)[0], carry)
    return carry, metrics + tuple(extra)

  def advance(carry, chunk_index, data, lr, hyper, checked=False):
    """The chunk's records, and whether a run that had not diverged blew up in it unseen: it
    ends with a non-finite parameter or recorded a non-finite loss."""
    indices = chunk_index * chunk_records + jnp.arange(chunk_records)
    new, recorded = jax.lax.scan(lambda c, r: record_block(c, r, data, lr, hyper, checked),
                                 carry, indices)
    seen = jax.tree_util.tree_leaves(
        (new[0], jnp.where(indices * record_every < total_steps, recorded[0], 0)))
    finite = jnp.all(jnp.isfinite(jnp.concatenate([jnp.ravel(v) for v in seen])))
    return new, recorded, (carry[1] < 0) & ~finite

  def evaluate(params, data, hyper):
    gamma = weights_fn(total_steps, hyper)
    loss, (static_loss, accuracy, _) = metrics(params, data[0], data[1], gamma)
    out = {"loss": loss, "static_loss": static_loss, "train_accuracy": accuracy}
    if with_validation:
      out["val_accuracy"] = _accuracy(apply_fn, params, data[2], data[3])
    return out

  return (_over_runs(advance, (0, None, None, 0, 0), mesh, run_axis),
          _over_runs(functools.partial(advance, checked=True), (0, None, None, 0, 0), mesh,
                     run_axis),
          _over_runs(evaluate, (0, None, 0), mesh, run_axis))


def run_batch(apply_fn: Callable, params, x, y, *, weights_fn: Callable,
              hyper, learning_rates, steps: int, record_every: int = 1,
              x_val=None, y_val=None, probes: Mapping[str, Probe] | None = None,
              chunk_steps: int = DEFAULT_CHUNK_STEPS, progress: bool | str = True,
              num_classes: int | None = None, mesh=None, run_axis: bool | None = None,
              loss: Callable = losses.dynamical_cross_entropy) -> BatchResult:
  """Train a batch of runs with full-batch GD in one compiled scan.

  Args:
    apply_fn: ``apply_fn(params, x) -> logits`` for one run (calls with equal functions,
      see :func:`~dynloss_lib.function_keys.function_key`, share one compilation).
    params: initial parameters with a leading run axis.
    x, y: training inputs and integer labels (shared by all runs).
    weights_fn: ``weights_fn(step, hyper) -> (C,)`` class weights.
    hyper: pytree of per-run schedule parameters (leading run axis) or None.
    learning_rates: ``(runs,)`` learning rates.
    steps: number of GD steps, >= 1.
    record_every: record every this many steps.
    x_val, y_val: optional validation set (accuracy recorded and reported).
    probes: name -> :class:`Probe`, measured inside the loop.
    chunk_steps: steps per compiled chunk (one progress-bar tick).
    progress: show a tqdm bar; a string is used as its description.
    num_classes: labels must lie in [0, num_classes); default ``max(y) + 1``.
    loss: the dynamical loss, a name of :data:`dynloss_lib.losses.DYNAMICAL_LOSSES` or a
      function ``loss(outputs, labels, class_weights) -> scalar``; its value at weights 1
      is recorded as ``static_loss``.
    mesh: a ``jax.sharding.Mesh`` with one axis named :data:`RUN_AXIS`: the runs
      are split evenly over its devices (see :func:`run_mesh`); None runs them
      all on the default device.
    run_axis: compile one run per device (a lone run, or as many runs as the mesh has
      devices) with the run axis, as a batch of one. None:
      :func:`dynloss_lib.provenance.lone_run_axis`. False needs one run per device.

  Returns:
    A :class:`BatchResult`.
  """
  learning_rates = jnp.atleast_1d(jnp.asarray(learning_rates))
  _check_run_args(steps, record_every, learning_rates)
  loss = losses.dynamical_loss(loss)
  num_classes = int(np.max(y)) + 1 if num_classes is None else num_classes
  check_dataset(x, y, num_classes)
  with_validation = x_val is not None
  data = (jnp.asarray(x), jnp.asarray(y))
  if with_validation:
    check_dataset(x_val, y_val, num_classes)
    data = data + (jnp.asarray(x_val), jnp.asarray(y_val))
  probes = dict(probes or {})
  num_records = -(-steps // record_every)
  chunk_records = max(1, min(num_records, chunk_steps // record_every))
  num_chunks = -(-num_records // chunk_records)
  runs = learning_rates.shape[0]
  if mesh is not None and runs % mesh.size:
    raise ValueError(f"a sharded batch needs a multiple of the mesh's {mesh.size} devices "
                     f"runs, got {runs=}")
  devices = 1 if mesh is None else mesh.size
  if run_axis is None:
    run_axis = runs != devices or provenance.lone_run_axis()
  if not (run_axis or runs == devices):
    raise ValueError(f"run_axis=False needs one run per device, got {runs=} on {devices} "
                     f"device(s)")
  advance, advance_checked, evaluate = _compiled_runner(
      apply_fn, loss, weights_fn, int(steps), int(record_every), chunk_records,
      tuple(probes.values()), with_validation, mesh, bool(run_axis))
  carry = (params, jnp.full((runs,), -1, dtype=jnp.int64))
  if mesh is not None and jax.process_count() > 1:
    carry, learning_rates, hyper = _global_runs((carry, learning_rates, hyper), mesh)
  outputs = []
  bar = tqdm(total=steps, desc=progress if isinstance(progress, str) else "training",
             disable=not progress, unit="step")
  for chunk in range(num_chunks):
    args = (chunk, data, learning_rates, hyper)
    new_carry, recorded, blew_up = advance(carry, *args)
    if np.any(_fetch(blew_up)):  # run the chunk again, every step checked
      new_carry, recorded, _ = advance_checked(carry, *args)
    carry = new_carry
    outputs.append(_fetch(recorded))
    bar.update(min(steps, (chunk + 1) * chunk_records * record_every) - bar.n)
  bar.close()
  params, diverged_step = carry
  names = ["loss", "static_loss", "train_accuracy", "gamma"]
  names += (["val_accuracy"] if with_validation else []) + list(probes)
  history = {name: np.concatenate([out[i] for out in outputs], axis=1)[:, :num_records]
             for i, name in enumerate(names)}
  record_steps = np.arange(num_records) * record_every
  diverged_step = np.asarray(_fetch(diverged_step))
  for run, step in enumerate(diverged_step):
    if step >= 0:  # values after the blow-up are not the model's; make that visible
      for name in names:
        if name != "gamma":
          history[name] = history[name].astype(float)
          history[name][run, record_steps > step] = np.nan
  final = {k: np.asarray(v) for k, v in _fetch(evaluate(params, data, hyper)).items()}
  return BatchResult(record_steps, history, final, diverged_step, _fetch(params))


def _global_runs(tree, mesh):
  """Host values (the same in every process) -> global arrays split over the run axis.

  Needed when the mesh spans several processes (``jax.distributed``): each
  process then places only the runs of its own devices.
  """
  sharding = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec(RUN_AXIS))

  def place(leaf):
    host = np.asarray(leaf)
    return jax.make_array_from_callback(host.shape, sharding, lambda index: host[index])
  return jax.tree_util.tree_map(place, tree)


def _fetch(tree):
  """``jax.device_get``, gathering arrays that live partly on other processes' devices."""
  if all(getattr(leaf, "is_fully_addressable", True) for leaf in jax.tree_util.tree_leaves(tree)):
    return jax.device_get(tree)
  from jax.experimental import multihost_utils
  return multihost_utils.process_allgather(tree, tiled=True)


def run_mesh(devices: int | None = None):
  """A one-axis mesh over the first ``devices`` devices (all by default).

  On a CPU, several devices exist only if asked for before JAX starts, e.g.
  ``jax.config.update("jax_num_cpu_devices", 2)`` (the CLI's ``--devices``).
  After ``jax.distributed.initialize`` the devices are those of every process
  (see ``scripts/multihost_grid.py``).

  Args:
    devices: how many devices, 1 <= devices <= ``jax.device_count()``.

  Returns:
    A ``jax.sharding.Mesh`` whose one axis is :data:`RUN_AXIS`.

  Examples:
    >>> dict(run_mesh(1).shape)
    {'runs': 1}
    >>> run_mesh(0)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: devices must be an integer in [1, ...] (the devices there are), got devices=0
  """
  available = jax.devices()
  devices = len(available) if devices is None else devices
  checks.integer("devices", devices, minimum=1, maximum=len(available),
                 note="the devices there are")
  return jax.sharding.Mesh(np.array(available[:devices]), (RUN_AXIS,))


def _schedule_weights(schedule):
  return lambda step, hyper: schedule(step)


def gradient_descent(apply_fn: Callable, params, x, y, schedule: Callable, *,
                     learning_rate: float, steps: int, record_every: int = 1,
                     x_val=None, y_val=None, probes: Mapping[str, Probe] | None = None,
                     progress: bool | str = False) -> BatchResult:
  r"""One full-batch gradient-descent run on the dynamical loss of ``schedule``.

  .. math::
    \theta_{t+1} = \theta_t - \eta \nabla F_{\Gamma(t)}(\theta_t)

  Args:
    apply_fn: ``apply_fn(params, x) -> logits``.
    params: initial parameters (no run axis).
    x, y: training data.
    schedule: ``schedule(step) -> (C,)`` class weights (see ``schedules``).
    learning_rate: :math:`\eta > 0`.
    steps: number of steps.
    record_every: record every this many steps.
    x_val, y_val: optional validation data.
    probes: optional in-loop measurements (:class:`Probe`).
    progress: show a progress bar.

  Returns:
    A :class:`BatchResult` with a run axis of size 1.

  Examples:
    >>> from dynloss_lib import schedules
    >>> apply_fn = lambda w, x: x @ w
    >>> x = jnp.array([[1.0, 0.0], [0.0, 1.0]]); y = jnp.array([0, 1])
    >>> result = gradient_descent(apply_fn, jnp.zeros((2, 2)), x, y,
    ...                           schedules.constant(2), learning_rate=1.0, steps=3)
    >>> result.history["loss"][0].round(4)
    array([0.6931, 0.4741, 0.3477])
  """
  weights_fn = _schedule_weights(schedule)
  batched = jax.tree_util.tree_map(lambda p: jnp.asarray(p)[None], params)
  return run_batch(apply_fn, batched, x, y, weights_fn=weights_fn, hyper=None,
                   learning_rates=[learning_rate], steps=steps, record_every=record_every,
                   x_val=x_val, y_val=y_val, probes=probes, progress=progress)

