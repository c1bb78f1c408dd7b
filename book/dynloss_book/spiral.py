"""The book's stored spiral experiments (chapters 4 and 5).

Every run is stored in its own small file (``spiral-{key}.npz`` under the
results folder), keyed by its full :class:`~dynloss_lib.experiments.SpiralConfig`,
so runs shared by two chapters are computed once and an interrupted
regeneration resumes where it stopped. Each file holds the final numbers, a
coarse history (every ``RECORD_EVERY`` steps) and the final parameters.

Regenerate everything with ``python -m dynloss_book regenerate``.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from dynloss_lib import experiments, provenance
from dynloss_book import store
from dynloss_lib.training import tqdm

RECORD_EVERY = 500
SPIRAL_STEPS = 70_000
SPIRAL_PERIOD = 5_000
SPIRAL_AMPLITUDE = 70.0

# Chapter 4: static vs dynamical at width 100.
SEEDS_PAPER = tuple(range(10))
SEEDS_GLOROT = (0, 1, 2)
SEEDS_BIAS_FREE = (0, 1)

# Chapter 5: phase diagrams over (A, T).
PHASE_AMPLITUDES = (2.0, 5.0, 10.0, 30.0, 70.0, 100.0)
PHASE_PERIODS_100 = (500, 1000, 2000, 5000)
PHASE_PERIODS_1000 = (500, 1000, 2000)
PHASE_AMPLITUDES_1000 = (10.0, 70.0)
PHASE_SEEDS = (0, 1, 2)
PHASE_STEPS_1000 = 20_000


StoredRun = store.Record
"""A stored spiral run: a :class:`~dynloss_book.store.Record` whose ``config`` is the
run's :class:`~dynloss_lib.experiments.SpiralConfig`, ``final`` its final numbers
(``train_accuracy``, ``static_loss``, ``loss``, ``val_accuracy`` with validation,
``diverged``, ``wall_seconds``), ``history`` its coarse history (``step`` every
``RECORD_EVERY`` steps) and ``params`` its final parameters."""


def spiral_config(width: int = 100, amplitude: float = SPIRAL_AMPLITUDE,
                  period: int = SPIRAL_PERIOD, seed: int = 0, **changes):
  """The book's spiral configuration: the paper's setting, last cycle static.

  Args:
    width: hidden units.
    amplitude: A (1 is the static loss).
    period: T.
    seed: initialisation seed.
    **changes: other :class:`~dynloss_lib.experiments.SpiralConfig` fields.

  Returns:
    A :class:`~dynloss_lib.experiments.SpiralConfig` with 70,000 steps, the
    last cycle static and a history every ``RECORD_EVERY`` steps.

  Examples:
    >>> config = spiral_config(amplitude=1.0, seed=3)
    >>> config.steps, config.last_cycle_static, config.seed
    (70000, True, 3)
  """
  settings = dict(width=width, amplitude=float(amplitude), period=period, seed=seed,
                  steps=SPIRAL_STEPS, last_cycle_static=True, record_every=RECORD_EVERY)
  settings.update(changes)
  return experiments.SpiralConfig(**settings)


def key(config, bias: bool = True, cpu_isa: str = provenance.CPU_ISA) -> dict:
  """What keys a stored spiral run: its config's fields, ``bias`` for the bias-free MLP, and
  ``cpu_isa`` for a run whose XLA code was limited to another instruction set than the book's
  :data:`~dynloss_lib.provenance.CPU_ISA` (another realisation of the arithmetic).

  Examples:
    >>> config = spiral_config(steps=10)
    >>> sorted(key(config)), sorted(key(config, cpu_isa="AVX512"))
    (['run'], ['cpu_isa', 'run'])
  """
  if cpu_isa not in provenance.CPU_ISAS:
    raise ValueError(f"cpu_isa must be one of {provenance.CPU_ISAS}, got {cpu_isa=}")
  key = {"run": config.to_dict()}
  if not bias:
    key["bias"] = False
  if cpu_isa != provenance.CPU_ISA:
    key["cpu_isa"] = cpu_isa
  return key


def check_cpu_isa(cpu_isa: str) -> None:
  """Raise a ValueError unless this process may compute runs keyed by ``cpu_isa``.

  A run keyed by an instruction set must be computed with XLA's code limited to it
  (``--cpu-isa``); a process on the host's own instruction set (no pin: a non-x86
  machine, or ``--cpu-isa native``) may compute only the book's default key.

  Examples:
    >>> import os
    >>> old = os.environ.get("XLA_FLAGS")
    >>> os.environ["XLA_FLAGS"] = "--xla_cpu_max_isa=AVX2"
    >>> check_cpu_isa("AVX512")
    Traceback (most recent call last):
    ...
    ValueError: these runs are keyed by cpu_isa='AVX512', but this process limits XLA's CPU code to 'AVX2'; compute them in a process started with --cpu-isa AVX512
    >>> _ = os.environ.pop("XLA_FLAGS") if old is None else os.environ.update(XLA_FLAGS=old)
  """
  in_effect = provenance.cpu_isa_in_effect()
  if not (in_effect == cpu_isa or (in_effect is None and cpu_isa == provenance.CPU_ISA)):
    raise ValueError(f"these runs are keyed by {cpu_isa=}, but this process limits XLA's CPU "
                     f"code to {in_effect!r}; compute them in a process started with "
                     f"--cpu-isa {cpu_isa}")
  flags = provenance.environment()["cpu_vector_flags"].split()
  if cpu_isa.startswith("AVX512") and "avx512f" not in flags:
    # XLA would quietly generate AVX2 code: runs keyed by AVX-512 would hold another arithmetic
    raise ValueError(f"these runs are keyed by {cpu_isa=}, and this CPU has no AVX-512 (its "
                     f"vector flags: {' '.join(flags)}); compute them on a CPU that has it")


def _record(run, devices: int) -> store.Record:
  final = {k: float(v) for k, v in run.final.items()}
  final.update(diverged=run.diverged, wall_seconds=round(run.wall_seconds, 2))
  history = {"step": np.asarray(run.record_steps)}
  history.update({k: np.asarray(v) for k, v in run.history.items() if k != "gamma"})
  return store.Record("spiral", run.config, final, history,
                      store.flatten(run.params, "params/"), provenance.environment(devices))


def stored_runs(directory, configs: Sequence, bias: bool = True,
                cpu_isa: str = provenance.CPU_ISA) -> list[StoredRun | None]:
  """The stored runs of ``configs``, None where a run is not stored (nothing is computed)."""
  return [store.load(directory, "spiral", c, key(c, bias, cpu_isa)) for c in configs]


def load_runs(directory, configs: Sequence, recompute: bool = False, progress: bool = True,
              bias: bool = True, devices: int | None = None,
              cpu_isa: str = provenance.CPU_ISA) -> list[StoredRun]:
  """Load each run's stored result, computing the missing ones first.

  Missing runs are computed together (:func:`~dynloss_lib.experiments.run_spiral_grid`,
  spread over ``devices``) and each is stored as soon as it finishes, so an
  interrupted computation resumes. A progress bar (over runs) appears only
  when something must be computed. Each stored run records the software and
  hardware it ran on (:func:`dynloss_lib.provenance.environment`).

  Args:
    directory: the results folder.
    configs: :class:`~dynloss_lib.experiments.SpiralConfig` objects.
    recompute: recompute every run even if stored.
    progress: show a progress bar while computing.
    bias: False trains the bias-free MLP (``models.mlp(use_bias=False)``).
    devices: local devices to spread the computation over (None: all; a run's
      result does not depend on it).
    cpu_isa: the instruction set that keys the runs (:func:`key`); runs to compute
      must be computed under it (:func:`check_cpu_isa`).

  Returns:
    One :class:`StoredRun` per config, in order.

  Examples:
    >>> import tempfile
    >>> folder = tempfile.mkdtemp()
    >>> config = spiral_config(amplitude=1.0, steps=1000)
    >>> [run] = load_runs(folder, [config], progress=False)
    >>> run.record_steps.shape, sorted(run.params["params"])
    ((2,), ['Dense_0', 'Dense_1'])
    >>> run.environment["jax"] == experiments.jax.__version__ and run.schema == store.SCHEMA
    True
  """
  found = [None if recompute else store.load(directory, "spiral", c, key(c, bias, cpu_isa))
           for c in configs]
  missing: dict = {}
  for i, f in enumerate(found):
    if f is None:
      missing.setdefault(configs[i], []).append(i)
  if not missing:
    return found
  store.refuse_computing(directory, f"{len(missing)} of these {len(configs)} spiral runs "
                                    f"(the first: {next(iter(missing))})")
  check_cpu_isa(cpu_isa)
  if progress:
    print(estimate(directory, list(missing)), flush=True)
  mesh_size = experiments.training.run_mesh(devices).size
  bar = tqdm(total=len(missing), desc="spiral runs", unit="run", disable=not progress)

  def keep(run):
    run_key = key(run.config, bias, cpu_isa)
    store.save(directory, _record(run, mesh_size), run_key)
    loaded = store.load(directory, "spiral", run.config, run_key)
    for i in missing[run.config]:
      found[i] = loaded
    bar.update(1)

  experiments.run_spiral_grid(list(missing), devices=mesh_size, progress=False, on_result=keep,
                              use_bias=bias)
  bar.close()
  return found


def estimate(directory, configs: Sequence) -> str:
  """How long computing ``configs`` takes, from the stored runs of the same widths.

  Each stored run records its wall time; per width, their median time per step, times the
  steps asked for (the machine of those runs: see their environment).
  """
  per_step: dict = {}
  for path in Path(directory).glob("spiral-*.npz"):
    record = store.read(path)
    run = record.config.get("run", record.config)
    if "wall_seconds" in record.final:
      per_step.setdefault(run["width"], []).append(record.final["wall_seconds"] / run["steps"])
  seconds, unknown = 0.0, 0
  for config in configs:
    if config.width in per_step:
      seconds += float(np.median(per_step[config.width])) * config.steps
    else:
      unknown += 1
  text = (f"computing {len(configs)} spiral runs: about {seconds / 60:.0f} min on a 2-core CPU "
          "like the one that computed the stored runs")
  return text + (f" (no stored run of the width of {unknown} of them)" if unknown else "")


def runs_for(directory, configs: Sequence, recompute: bool = False, progress: bool = True,
             devices: int | None = None, compute: bool = True,
             cpu_isa: str = provenance.CPU_ISA) -> list[StoredRun]:
  """:func:`load_runs` (``compute``), or only the stored runs: then a missing run is a
  :class:`~dynloss_book.store.MissingResult` naming it and the command that computes it.

  Examples:
    >>> import tempfile
    >>> runs_for(tempfile.mkdtemp(), [spiral_config(steps=10)], compute=False)
    ... # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    dynloss_book.store.MissingResult: 1 of 1 spiral runs are not stored in ... (the first: SpiralConfig(...)); compute them with: cd book && python -m dynloss_book regenerate --only-missing
  """
  if compute:
    return load_runs(directory, configs, recompute, progress, devices=devices, cpu_isa=cpu_isa)
  runs = stored_runs(directory, configs, cpu_isa=cpu_isa)
  missing = [c for c, r in zip(configs, runs) if r is None]
  if missing:
    raise store.MissingResult(f"{len(missing)} of {len(runs)} spiral runs are not stored in "
                              f"{directory} (the first: {missing[0]}); compute them with: "
                              f"{store.COMMAND}")
  return runs


def seeds_configs() -> dict[str, list]:
  """Chapter 4's runs: label -> configs (one per seed)."""
  runs = {}
  for init, seeds in (("paper", SEEDS_PAPER), ("glorot", SEEDS_GLOROT)):
    for label, amplitude in (("static", 1.0), ("dynamical", SPIRAL_AMPLITUDE)):
      runs[f"{init}/{label}"] = [spiral_config(amplitude=amplitude, seed=s, init=init)
                                 for s in seeds]
  return runs


def spiral_seeds(directory, recompute: bool = False, progress: bool = True):
  """Chapter 4: static (A=1) vs dynamical (A=70, T=5000) at width 100, two inits.

  Returns:
    label (``"paper/static"``, ``"paper/dynamical"``, ``"glorot/..."``) -> list
    of :class:`StoredRun` over seeds.
  """
  return {label: load_runs(directory, configs, recompute, progress)
          for label, configs in seeds_configs().items()}


def _medians(directory, configs):
  runs = stored_runs(directory, configs)
  if None in runs:
    raise ValueError(f"{runs.count(None)} runs are not stored in {directory}")
  return float(np.median([r.final["train_accuracy"] for r in runs]))


def static_stalls(directory):
  """Width 100, paper init: the static loss's median final train accuracy is below 0.9."""
  from dynloss_book.check import Claim
  value = _medians(directory, seeds_configs()["paper/static"])
  return Claim("width 100: static median train accuracy < 0.9", value, value < 0.9)


def dynamical_fits(directory):
  """Width 100, paper init: A = 70's median final train accuracy is at least 0.98."""
  from dynloss_book.check import Claim
  value = _medians(directory, seeds_configs()["paper/dynamical"])
  return Claim("width 100: A=70 median train accuracy >= 0.98", value, value >= 0.98)


def spiral_bias_free(directory, recompute: bool = False, progress: bool = True):
  """Chapter 4: the paper's setting with a bias-free MLP, static and dynamical.

  Returns:
    ``{"static": [...], "dynamical": [...]}`` lists of :class:`StoredRun`.
  """
  return {label: load_runs(directory, [spiral_config(amplitude=a, seed=s)
                                       for s in SEEDS_BIAS_FREE],
                           recompute, progress, bias=False)
          for label, a in (("static", 1.0), ("dynamical", SPIRAL_AMPLITUDE))}


@dataclasses.dataclass
class PhaseDiagram:
  """Final accuracies over an (A, T) grid and seeds, plus the static baseline.

  Attributes:
    amplitudes: the grid's A values (rows).
    periods: the grid's T values (columns).
    seeds: the seeds.
    steps: GD steps of every run.
    width: hidden units.
    train: ``(len(amplitudes), len(periods), len(seeds))`` final train accuracy.
    val: same shape, validation accuracy (None without validation).
    static_train, static_val: ``(len(seeds),)`` for the static loss (A = 1).
    diverged: same shape as ``train``, True where a run diverged.
  """
  amplitudes: tuple
  periods: tuple
  seeds: tuple
  steps: int
  width: int
  train: np.ndarray
  val: np.ndarray | None
  static_train: np.ndarray
  static_val: np.ndarray | None
  diverged: np.ndarray


def phase_diagram(directory, width: int, amplitudes: Sequence[float], periods: Sequence[int],
                  seeds: Sequence[int], steps: int, validation: bool,
                  recompute: bool = False, progress: bool = True) -> PhaseDiagram:
  """Run (or load) a grid of dynamical runs and the static baseline.

  Every run uses the paper's init, learning rate 1 and the last cycle static.

  Args:
    directory: the results folder.
    width: hidden units.
    amplitudes, periods, seeds: the grid.
    steps: GD steps per run.
    validation: also measure validation accuracy.
    recompute: recompute stored runs.
    progress: progress bar while computing.

  Returns:
    A :class:`PhaseDiagram`.
  """
  config = lambda a, t, s: spiral_config(width=width, amplitude=a, period=t, seed=s,
                                         steps=steps, validation=validation)
  grid = [config(a, t, s) for a in amplitudes for t in periods for s in seeds]
  # The static loss does not depend on T; its runs use the largest period of the grid.
  static = [config(1.0, max(periods), s) for s in seeds]
  runs = load_runs(directory, grid + static, recompute, progress)
  shape = (len(amplitudes), len(periods), len(seeds))
  values = lambda rs, key: np.array([r.final[key] for r in rs])
  grid_runs, static_runs = runs[:len(grid)], runs[len(grid):]
  return PhaseDiagram(
      amplitudes=tuple(amplitudes), periods=tuple(periods), seeds=tuple(seeds), steps=steps,
      width=width, train=values(grid_runs, "train_accuracy").reshape(shape),
      val=values(grid_runs, "val_accuracy").reshape(shape) if validation else None,
      static_train=values(static_runs, "train_accuracy"),
      static_val=values(static_runs, "val_accuracy") if validation else None,
      diverged=values(grid_runs, "diverged").astype(bool).reshape(shape))


def phase_width100(directory, recompute: bool = False, progress: bool = True):
  """Chapter 5: train accuracy over (A, T) at width 100 (70,000 steps)."""
  return phase_diagram(directory, 100, PHASE_AMPLITUDES, PHASE_PERIODS_100, PHASE_SEEDS,
                       SPIRAL_STEPS, validation=False, recompute=recompute, progress=progress)


def phase_width1000(directory, recompute: bool = False, progress: bool = True):
  """Chapter 5: train and validation accuracy over (A, T) at width 1000."""
  return phase_diagram(directory, 1000, PHASE_AMPLITUDES_1000, PHASE_PERIODS_1000,
                       PHASE_SEEDS, PHASE_STEPS_1000, validation=True, recompute=recompute,
                       progress=progress)
