"""The spiral experiments: a configuration, one run, and a grid of runs.

A :class:`SpiralConfig` names everything that determines a run (data, model,
initialisation, schedule, optimiser, horizon), so it can key stored results.
Runs that differ only in amplitude, period, learning rate, seed and the
schedule's phase options share one compilation and are vmapped together.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any, ClassVar, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from dynloss_lib import data as data_lib
from dynloss_lib import checks, losses, models, schedules, training

DTYPES = {"float64": jnp.float64, "float32": jnp.float32}


@dataclasses.dataclass(frozen=True)
class SpiralConfig:
  """Everything that determines one spiral run.

  Attributes:
    width: hidden units (100: underparameterised, 1000: overparameterised).
    amplitude: A >= 1 (1 is the static cross-entropy).
    period: T, a positive integer; cycles last T + 1 steps.
    steps: number of full-batch GD steps.
    learning_rate: GD learning rate.
    seed: seed of the parameter initialisation.
    init: ``"paper"`` (the 2021 runs) or ``"glorot"`` (the 2022 notebook).
    shape: ``"triangle"`` (the paper's), ``"sine"`` or ``"square"``.
    start_mid: start the first cycle at its middle.
    last_cycle_static: train the last cycle (from the first reset at or after
      ``steps - period``) with the static loss, as the Fig. 4 run did.
    final_static_steps: train the last this many steps with the static loss, the
      same for every T (0: no fixed final static phase; not together with
      ``last_cycle_static``).
    record_every: record the history every this many steps.
    validation: also record accuracy on :func:`dynloss_lib.data.spiral_validation`.
    validation_draws: noise draws of 300 points in that validation set (1: the
      first phase diagrams' 300 points; 10: the generalisation study's 3,000).
    loss: a name of :data:`dynloss_lib.losses.DYNAMICAL_LOSSES` (the paper's
      ``"cross_entropy"``, or a dynamical mean-squared error).
    points_per_class, num_classes, revolutions, noise, data_seed: the data set.
    dtype: ``"float64"`` (the paper's) or ``"float32"``.
    output_perturbation: scale the output layer's initial weights by
      ``1 + output_perturbation`` (0: the initialisation as drawn). A rounding-level
      value such as 1e-12 starts another realisation of the chaotic dynamics from
      the same network, reproducibly.
  """
  width: int = 100
  amplitude: float = 70.0
  period: int = 5000
  steps: int = 70_000
  learning_rate: float = 1.0
  seed: int = 0
  init: str = "paper"
  shape: str = "triangle"
  start_mid: bool = False
  last_cycle_static: bool = False
  final_static_steps: int = 0
  record_every: int = 1
  validation: bool = False
  validation_draws: int = 1
  loss: str = "cross_entropy"
  points_per_class: int = 100
  num_classes: int = 3
  revolutions: float = 4
  noise: float = 0.2
  data_seed: int = 0
  dtype: str = "float64"
  output_perturbation: float = 0.0

  def __post_init__(self):
    schedules._check_common(self.amplitude, self.period, self.num_classes, None)
    training._check_run_args(self.steps, self.record_every, self.learning_rate)
    models._initializers(self.init)
    losses.dynamical_loss(self.loss)
    checks.one_of("shape", self.shape, schedules.SHAPES)
    checks.one_of("dtype", self.dtype, DTYPES)
    checks.integer("width", self.width)
    checks.integer("validation_draws", self.validation_draws)
    checks.integer("seed", self.seed, minimum=0)
    checks.number("output_perturbation", self.output_perturbation, above=-1)
    checks.integer("final_static_steps", self.final_static_steps, minimum=0,
                   maximum=self.steps)
    if self.final_static_steps and self.last_cycle_static:
      raise ValueError("give last_cycle_static or final_static_steps, not both, got "
                       f"final_static_steps={self.final_static_steps}")
    checks.as_python_ints(self, ("width", "period", "steps", "seed", "record_every",
                                 "validation_draws", "final_static_steps"))

  @property
  def static_from(self) -> int:
    """Step from which the loss is static (``steps + 1`` if never within the run).

    Examples:
      >>> SpiralConfig(period=1000, final_static_steps=10_000).static_from
      60000
      >>> SpiralConfig(period=1000, last_cycle_static=True).static_from
      69069
    """
    if self.final_static_steps:
      return self.steps - self.final_static_steps
    if self.last_cycle_static:
      return schedules.last_cycle_start(self.steps, self.period, self.start_mid)
    return self.steps + 1

  ADDED_FIELDS: ClassVar[dict] = {"validation_draws": 1, "loss": "cross_entropy",
                                  "final_static_steps": 0, "output_perturbation": 0.0}
  """Fields added after results were first stored, and their defaults: left out of
  :meth:`to_dict` at those defaults, so the keys of the earlier results stay valid."""

  def to_dict(self) -> dict[str, Any]:
    """The fields that define the run (:func:`dynloss_lib.checks.config_dict`).

    Examples:
    >>> "validation_draws" in SpiralConfig().to_dict()
    False
    >>> SpiralConfig(validation=True, validation_draws=10).to_dict()["validation_draws"]
    10
    """
    return checks.config_dict(self)

  def replace(self, **changes) -> "SpiralConfig":
    return dataclasses.replace(self, **changes)

  def model(self, use_bias: bool = True) -> models.MLP:
    """The run's network (``use_bias=False``: the bias-free MLP, keyed apart by the book).

    Examples:
      >>> SpiralConfig(width=8).model().width
      8
    """
    return models.mlp(self.width, self.num_classes, self.init, DTYPES[self.dtype], use_bias)

  def _static_key(self):
    """The fields that force a separate compilation: all but :data:`PER_RUN_FIELDS`."""
    return tuple((f.name, getattr(self, f.name)) for f in dataclasses.fields(self)
                 if f.name not in PER_RUN_FIELDS)


PER_RUN_FIELDS = frozenset({"amplitude", "period", "learning_rate", "seed", "start_mid",
                            "last_cycle_static", "final_static_steps", "output_perturbation"})
"""SpiralConfig fields that enter the compiled loop as per-run arrays: runs differing only in
these share one compilation (and one vmapped batch)."""

TRANSIENT_WINDOW = 500
"""Steps over which :meth:`SpiralRun.recent_train_accuracy` takes its median."""


@dataclasses.dataclass
class SpiralRun:
  """One finished spiral run.

  Attributes:
    config: its :class:`SpiralConfig`.
    record_steps: steps of the history records.
    history: name -> array over records (see :class:`training.BatchResult`).
    final: name -> float after the last step (``train_accuracy``, ``loss``,
      ``static_loss``, and ``val_accuracy`` if validation was asked for).
    diverged_step: step at which the run diverged, or None.
    params: final parameters.
    wall_seconds: this run's share of the batch's wall time.
  """
  config: SpiralConfig
  record_steps: np.ndarray
  history: dict[str, np.ndarray]
  final: dict[str, float]
  diverged_step: int | None
  params: Any
  wall_seconds: float

  @property
  def diverged(self) -> bool:
    return self.diverged_step is not None

  def recent_train_accuracy(self, window: int = TRANSIENT_WINDOW) -> float:
    """Median train accuracy over the records of the last ``window`` steps.

    A run can end in a brief transient (an instability at its last step); this
    median, beside the final value, shows it.
    """
    recent = self.record_steps >= self.config.steps - window
    return float(np.nanmedian(self.history["train_accuracy"][recent]))

  def summary(self) -> dict[str, Any]:
    """A JSON-ready line: the configuration, the final numbers and the median
    train accuracy over the last 500 steps (``train_accuracy_last500``)."""
    return {"config": self.config.to_dict(), **{k: float(v) for k, v in self.final.items()},
            f"train_accuracy_last{TRANSIENT_WINDOW}": self.recent_train_accuracy(),
            "diverged": self.diverged, "diverged_step": self.diverged_step,
            "wall_seconds": round(self.wall_seconds, 3)}


def schedule_hyper(configs: Sequence[SpiralConfig], dtype) -> dict[str, jnp.ndarray]:
  """The per-run schedule parameters of ``configs`` (leading run axis) for ``run_batch``.

  Examples:
    >>> hyper = schedule_hyper([SpiralConfig(period=10, start_mid=True)], jnp.float64)
    >>> int(hyper["phase_offset"][0]), int(hyper["static_from"][0]) == schedules.NEVER
    (5, True)
  """
  runs = [schedules.hyper(c.amplitude, c.period, c.period // 2 if c.start_mid else 0,
                          c.static_from if c.static_from <= c.steps else None)
          for c in configs]
  stacked = {name: jnp.array([run[name] for run in runs]) for name in runs[0]}
  stacked["amplitude"] = stacked["amplitude"].astype(dtype)
  return stacked


def default_batch_size() -> int:
  """Runs vmapped together: 1 on a CPU (vmap is no faster per run there), 512 otherwise."""
  return 1 if jax.default_backend() == "cpu" else 512


def run_spiral_grid(configs: Sequence[SpiralConfig], *, batch_size: int | None = None,
                    devices: int | None = 1, progress: bool = True, keep_params: bool = True,
                    on_result=None, use_bias: bool = True,
                    run_axis: bool | None = None) -> list[SpiralRun]:
  """Run many spiral configurations, vmapping those that share a compilation.

  Runs that share a compilation go in batches of ``batch_size`` runs per device;
  with several devices, each batch is split over them (``jax.sharding``), so a
  run's result does not depend on how many devices the grid used. A last batch
  that does not fill every device is padded with copies of its last run, whose
  results are dropped.

  Args:
    configs: the runs.
    batch_size: runs per device in one vmapped batch (default
      :func:`default_batch_size`).
    devices: how many local devices to spread the runs over (None: all).
    progress: show a progress bar per batch.
    keep_params: keep each run's final parameters.
    on_result: called with each :class:`SpiralRun` as soon as its batch finishes.
    use_bias: False trains the bias-free MLP (not part of the config: the book
      keys those runs separately).
    run_axis: how one run per device is compiled (see
      :func:`dynloss_lib.training.run_batch`).

  Returns:
    One :class:`SpiralRun` per config, in order.
  """
  batch_size = default_batch_size() if batch_size is None else batch_size
  checks.integer("batch_size", batch_size)
  mesh = training.run_mesh(devices)
  mesh = None if mesh.size == 1 else mesh
  per_batch = batch_size * (1 if mesh is None else mesh.size)
  results: list[SpiralRun | None] = [None] * len(configs)
  groups: dict = {}
  for index, config in enumerate(configs):
    groups.setdefault(config._static_key(), []).append(index)
  for indices in groups.values():
    for start in range(0, len(indices), per_batch):
      chosen = indices[start:start + per_batch]
      batch = [configs[i] for i in chosen]
      padded = batch + [batch[-1]] * (-len(batch) % (1 if mesh is None else mesh.size))
      desc = (f"width {batch[0].width}, A={batch[0].amplitude:g}, T={batch[0].period}"
              if len(batch) == 1 else f"{len(batch)} runs, width {batch[0].width}")
      for i, run in zip(chosen, _run_group(padded, progress and desc, keep_params, use_bias,
                                           mesh, run_axis)):
        run.wall_seconds *= len(padded) / len(batch)
        results[i] = run
        if on_result is not None:
          on_result(run)
  return results


def _run_group(batch: list[SpiralConfig], progress, keep_params, use_bias,
               mesh=None, run_axis=None) -> list[SpiralRun]:
  first = batch[0]
  dtype = DTYPES[first.dtype]
  data_args = (first.points_per_class, first.num_classes, first.revolutions, first.noise,
               first.data_seed)
  x, y = data_lib.spiral(*data_args)
  x_val, y_val = (data_lib.spiral_validation(*data_args, draws=first.validation_draws)
                  if first.validation else (None, None))
  module = first.model(use_bias)
  keys = jnp.stack([jax.random.PRNGKey(c.seed) for c in batch])
  params = jax.vmap(lambda k: module.init(k, jnp.zeros((1, 2), dtype)))(keys)
  params = perturb_output(params, [c.output_perturbation for c in batch])
  hyper = schedule_hyper(batch, dtype)
  start = time.perf_counter()
  out = training.run_batch(
      module.apply, params, jnp.asarray(x, dtype), y,
      weights_fn=schedules.ClassWeights(first.num_classes, first.shape), hyper=hyper,
      learning_rates=jnp.array([c.learning_rate for c in batch], dtype), steps=first.steps,
      record_every=first.record_every, x_val=None if x_val is None else jnp.asarray(x_val, dtype),
      y_val=y_val, progress=progress, num_classes=first.num_classes, mesh=mesh,
      run_axis=run_axis, loss=first.loss)
  seconds = (time.perf_counter() - start) / len(batch)
  runs = []
  for i, config in enumerate(batch):
    step = int(out.diverged_step[i])
    runs.append(SpiralRun(
        config=config, record_steps=out.record_steps,
        history={k: v[i] for k, v in out.history.items()},
        final={k: float(v[i]) for k, v in out.final.items()},
        diverged_step=step if step >= 0 else None,
        params=jax.tree_util.tree_map(lambda p: np.asarray(p[i]), out.params)
        if keep_params else None,
        wall_seconds=seconds))
  return runs


def perturb_output(params, perturbations: Sequence[float]):
  """Scale each run's output-layer weights by ``1 + perturbation`` (leading run axis).

  Runs with no perturbation keep their parameters bit for bit (nothing is multiplied
  when every perturbation is 0).

  Examples:
    >>> params = {"params": {"Dense_1": {"kernel": jnp.ones((2, 3, 1)), "bias": jnp.ones((2, 1))}}}
    >>> out = perturb_output(params, [0.0, 0.5])
    >>> out["params"]["Dense_1"]["kernel"][:, 0, 0].tolist(), out["params"]["Dense_1"]["bias"][:, 0].tolist()
    ([1.0, 1.5], [1.0, 1.0])
  """
  if not any(perturbations):
    return params
  layer = models.MLP.LAYERS[-1]
  kernel = params["params"][layer]["kernel"]
  scale = 1 + jnp.asarray(perturbations, kernel.dtype)
  scaled = {**params["params"][layer], "kernel": kernel * scale[:, None, None]}
  return {**params, "params": {**params["params"], layer: scaled}}


def run_spiral(config: SpiralConfig, progress: bool = True, use_bias: bool = True,
               run_axis: bool | None = None) -> SpiralRun:
  """Train one spiral configuration (see :class:`SpiralConfig`).

  Args:
    config: the run.
    progress: show a progress bar.
    use_bias: False trains the bias-free MLP.
    run_axis: how the run is compiled (see :func:`dynloss_lib.training.run_batch`).

  Returns:
    A :class:`SpiralRun`.

  Examples:
    >>> run = run_spiral(SpiralConfig(amplitude=1.0, steps=100), progress=False)
    >>> run.history["loss"].shape, run.diverged
    ((100,), False)
  """
  return run_spiral_grid([config], batch_size=1, progress=progress, use_bias=use_bias,
                         run_axis=run_axis)[0]


def predict_classes(config: SpiralConfig, params, points) -> np.ndarray:
  """Predicted class of each point (for decision-region pictures).

  Args:
    config: the run's configuration (model and dtype).
    params: the run's parameters (with or without biases).
    points: ``(M, 2)`` inputs.

  Returns:
    ``(M,)`` integer predictions.
  """
  module = config.model(use_bias="bias" in params["params"][models.MLP.LAYERS[0]])
  logits = module.apply(params, jnp.asarray(points, DTYPES[config.dtype]))
  return np.asarray(jnp.argmax(logits, axis=-1))
