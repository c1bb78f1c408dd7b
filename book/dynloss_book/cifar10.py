"""CIFAR-10 studies: the paper's Myrtle5-64, a screen of (A, T), then a paired confirmation.

A :class:`Study` fixes its design before its runs. Its protocol keeps the choice
of the dynamical loss apart from its test:

1. **Screen.** The cells :attr:`Study.cells` (A, T) and the static loss on the
   screen's own seeds. The rule, written down first: the cell with the largest mean
   paired gain in final test accuracy (dynamical minus static, same seed) is chosen
   (:func:`chosen_cell`; the first in order on a tie; a diverged run ranks last),
   whether or not its gain is positive.
2. **Confirmation.** The chosen cell against the static loss on fresh seeds
   (:attr:`Study.seeds`, never used by the screen). Both arms of a seed share the
   initialisation and the data order (both derive from the seed alone). The verdict
   is the paired difference's 95% bootstrap interval, with the smallest effect the
   design detects with 80% power (:func:`comparison`).
3. **Wide ResNet** (where the study has one): the same cell against the static loss.
4. **Horizon** (where the study has one): the static loss on the first screen seed
   trained for :attr:`Study.horizon_epochs` epochs, to show whether the study's
   epochs let the static loss level off.

Every dynamical run ends its oscillating part on a whole round of the ten classes
(:func:`check_whole_rounds`, checked when a study is defined),
then trains its last ``static_epochs`` epochs with the static loss.

The studies (:data:`STUDIES`): ``"myrtle5-64-cpu"`` (what the stored results hold,
sized for a 2-core CPU), ``"myrtle5-64-gpu"`` (the same design with more seeds and
the WRN-16-4, for one GPU and the same offline subset) and ``"full-gpu"`` (all of
CIFAR-10, downloaded: for Colab).

Every run is stored by :func:`dynloss_book.store.cached` as ``cifar10-run-{key}.npz``
(its per-epoch history) under the results folder, keyed by its
:class:`~dynloss_lib.minibatch.CifarConfig` and the md5 of its data; a run in
progress keeps a checkpoint after every epoch, so an interrupted study resumes::

  python -m dynloss_book cifar10 --study myrtle5-64-cpu --results-dir results \\
      --data ../shared/data/cifar10_subset.npz
"""

from __future__ import annotations

import dataclasses
from typing import Sequence

import jax
import numpy as np

from dynloss_lib import cifar, minibatch, schedules
from dynloss_book import stats, store
from dynloss_book.cifar_runs import (RUN_NAME, TINY_FILE, LazyData, data_label, default_engine,
                                     load_data, run_config, run_configs)

TRAIN_SIZES = {"subset": 5085, "tiny": 300, "full": 50_000}
"""Training images of each data set (before a config's ``train_size``)."""


def oscillating_steps(config: minibatch.CifarConfig, steps_per_epoch: int) -> int:
  """Optimiser steps of a run before its final static epochs."""
  return (config.epochs - config.static_epochs) * steps_per_epoch


def rounds(config: minibatch.CifarConfig, steps_per_epoch: int) -> float:
  """Rounds of the ten classes in the oscillating part (``C (T + 1)`` steps each).

  Examples:
    >>> rounds(minibatch.CifarConfig(epochs=15, static_epochs=5, period=38, amplitude=2.0), 39)
    1.0
  """
  return oscillating_steps(config, steps_per_epoch) / (cifar.NUM_CLASSES * (config.period + 1))


def check_whole_rounds(config: minibatch.CifarConfig, steps_per_epoch: int) -> None:
  """Raise a ValueError unless a dynamical run's oscillating part is whole rounds.

  Examples:
    >>> check_whole_rounds(minibatch.CifarConfig(epochs=15, static_epochs=5, period=39, amplitude=2.0), 39)
    Traceback (most recent call last):
    ...
    ValueError: a dynamical run must give every class the same number of turns: its 390 oscillating steps (10 epochs of 39) are 0.975 rounds of 10 x (T + 1) = 400 steps, got period=39; periods that give whole rounds: [2, 12, 38]
  """
  if config.amplitude == 1:
    return
  if config.period < 2:
    raise ValueError(f"a dynamical run needs period >= 2 (with T = 1 every weight stays 1), "
                     f"got period={config.period}")
  steps = oscillating_steps(config, steps_per_epoch)
  turns = rounds(config, steps_per_epoch)
  if steps and turns == int(turns):
    return
  raise ValueError(
      "a dynamical run must give every class the same number of turns: its "
      f"{steps} oscillating steps ({config.epochs - config.static_epochs} epochs of "
      f"{steps_per_epoch}) are {turns:.3g} rounds of {cifar.NUM_CLASSES} x (T + 1) = "
      f"{cifar.NUM_CLASSES * (config.period + 1)} steps, got period={config.period}; periods "
      f"that give whole rounds: {schedules.whole_round_periods(steps, cifar.NUM_CLASSES)}")


@dataclasses.dataclass(frozen=True)
class Study:
  """One CIFAR-10 study, its design fixed before its runs (see the module docstring).

  Attributes:
    data: ``"subset"`` (the 5,085-image file), ``"tiny"`` (its committed 400-image slice)
      or ``"full"`` (all of CIFAR-10).
    base: the :class:`~dynloss_lib.minibatch.CifarConfig` shared by every run (epochs,
      ``static_epochs``, optimiser, model); amplitude, period and seed are set per run.
    cells: the screened (A, T) cells (T in optimiser steps), each A > 1.
    screen_seeds: the screen's seeds.
    seeds: the confirmation's fresh seeds (disjoint from ``screen_seeds``).
    cell: a fixed (A, T) for the confirmation instead of the screen's choice (None).
    wrn: ``(depth, widen_factor)`` of the Wide ResNet check, or None (no check).
    wrn_seeds: its seeds.
    horizon_epochs: epochs of the horizon run (None: no horizon run).
    backend: the JAX backend its runs are trained on (``"cpu"`` or ``"gpu"``); a machine
      with another backend computes another arithmetic, so it trains none of them (it
      loads the stored ones).
  """
  data: str
  base: minibatch.CifarConfig
  cells: tuple[tuple[float, int], ...]
  screen_seeds: tuple[int, ...]
  seeds: tuple[int, ...]
  cell: tuple[float, int] | None = None
  wrn: tuple[int, int] | None = None
  wrn_seeds: tuple[int, ...] = ()
  horizon_epochs: int | None = None
  backend: str = "cpu"

  def __post_init__(self):
    if self.data not in TRAIN_SIZES:
      raise ValueError(f"data must be one of {tuple(TRAIN_SIZES)}, got data={self.data!r}")
    if self.cell is None and not self.cells:
      raise ValueError("a study needs screened cells or a fixed cell, got cells=() and "
                       "cell=None")
    low = [c for c in self.cells if c[0] <= 1]
    if low:
      raise ValueError(f"screened cells must have A > 1 (the static loss is screened "
                       f"anyway), got cells={self.cells!r}")
    shared = sorted(set(self.seeds) & set(self.screen_seeds))
    if shared:
      raise ValueError(f"the confirmation's seeds must be fresh, got seeds {shared} in both "
                       "seeds and screen_seeds")
    for amplitude, period in self.cells + ((self.cell,) if self.cell else ()):
      check_whole_rounds(self.base.replace(amplitude=float(amplitude),
                                                     period=int(period)),
                                   self.steps_per_epoch)

  @property
  def train_size(self) -> int:
    """Training images per epoch's draw (the base's ``train_size``, else the data's)."""
    return self.base.train_size or TRAIN_SIZES[self.data]

  @property
  def steps_per_epoch(self) -> int:
    return minibatch.steps_per_epoch(self.train_size, self.base.batch_size)

  def periods_in_epochs(self, period: int) -> float:
    """A cycle of ``period`` (T + 1 steps) in epochs."""
    return (period + 1) / self.steps_per_epoch


_CPU_BASE = minibatch.CifarConfig(width=64, epochs=15, static_epochs=5, batch_size=128,
                                  learning_rate=0.05, period=38)
STUDIES = {
    "myrtle5-64-cpu": Study(
        data="subset", base=_CPU_BASE, cells=((2.0, 12), (2.0, 38), (4.0, 12), (4.0, 38)),
        screen_seeds=(0, 1), seeds=tuple(range(10, 18)), horizon_epochs=30),
    "myrtle5-64-gpu": Study(
        data="subset", base=_CPU_BASE, cells=((2.0, 12), (2.0, 38), (4.0, 12), (4.0, 38)),
        screen_seeds=(100, 101, 102, 103), seeds=tuple(range(110, 130)), wrn=(16, 4),
        wrn_seeds=tuple(range(110, 115)), backend="gpu"),
    "full-gpu": Study(
        data="full",
        base=minibatch.CifarConfig(width=64, epochs=30, static_epochs=5, batch_size=500,
                                   learning_rate=0.1, period=49),
        cells=((2.0, 49), (2.0, 249), (4.0, 49), (4.0, 249)), screen_seeds=(0, 1),
        seeds=tuple(range(10, 20)), wrn=(16, 4), wrn_seeds=(10, 11, 12), backend="gpu"),
}
"""The studies. Periods are in optimiser steps. On the subset at batch 128 an epoch is 39
steps and the 10 oscillating epochs are 390 steps: T = 12 gives three rounds of the ten
classes (a third of an epoch per class), T = 38 one round (an epoch per class). On the
full set at batch 500 an epoch is 100 steps and the 25 oscillating epochs are 2,500:
T = 49 gives five rounds (half an epoch per class), T = 249 one (2.5 epochs per class)."""


def _cell_runs(study: Study, cell, seeds, model_kwargs=None):
  kwargs = model_kwargs or {}
  return [study.base.replace(amplitude=float(cell[0]), period=int(cell[1]), seed=s, **kwargs)
          for s in seeds]


def _static_runs(study: Study, seeds, model_kwargs=None):
  kwargs = model_kwargs or {}
  return [study.base.replace(amplitude=1.0, seed=s, **kwargs) for s in seeds]


def study_configs(study: Study, cell: tuple[float, int] | None = None
                  ) -> dict[str, list[minibatch.CifarConfig | None]]:
  """Every run of a study, by part (:data:`PARTS`).

  ``screen`` lists the static run of each screen seed, then each cell's runs (cells
  in order, seeds in order). The confirmation and WRN parts use ``cell`` (default:
  the study's fixed cell); while it is unknown their dynamical entries are None.

  Examples:
    >>> configs = study_configs(STUDIES["myrtle5-64-cpu"])
    >>> len(configs["screen"]), configs["dynamical"][:2]
    (10, [None, None])
    >>> {c.seed for c in study_configs(STUDIES["myrtle5-64-cpu"], (2.0, 38))["dynamical"]}
    {10, 11, 12, 13, 14, 15, 16, 17}
  """
  cell = cell if cell is not None else study.cell
  dynamical = (lambda seeds, kw=None: _cell_runs(study, cell, seeds, kw) if cell is not None
               else [None] * len(seeds))
  screen = _static_runs(study, study.screen_seeds)
  for screened in study.cells:
    screen += _cell_runs(study, screened, study.screen_seeds)
  wrn = ({"model": "wrn", "depth": study.wrn[0], "widen_factor": study.wrn[1]}
         if study.wrn else None)
  return {"screen": screen,
          "static": _static_runs(study, study.seeds),
          "dynamical": dynamical(study.seeds),
          "wrn_static": _static_runs(study, study.wrn_seeds, wrn) if wrn else [],
          "wrn_dynamical": dynamical(study.wrn_seeds, wrn) if wrn else [],
          "horizon": ([study.base.replace(amplitude=1.0, epochs=study.horizon_epochs,
                                          seed=study.screen_seeds[0])]
                      if study.horizon_epochs else [])}


PARTS = ("screen", "static", "dynamical", "wrn_static", "wrn_dynamical", "horizon")


def final_accuracy(run) -> float:
  """A stored run's final test accuracy (NaN for a run that diverged)."""
  return float(run.history["test_accuracy"][-1])


@dataclasses.dataclass
class ScreenCell:
  """One screened cell: its paired gains over the screen seeds.

  Attributes:
    cell: (A, T).
    dynamical, static: ``(seeds,)`` final test accuracies.
    gain: the mean paired gain (NaN if a run diverged).
  """
  cell: tuple
  dynamical: np.ndarray
  static: np.ndarray

  @property
  def gain(self) -> float:
    return float(np.mean(self.dynamical - self.static))


def screen_cells(study: Study, screen_results: Sequence) -> list[ScreenCell] | None:
  """The screen's cells with their paired gains; None while a run is missing."""
  if screen_results is None or any(r is None for r in screen_results):
    return None
  seeds = len(study.screen_seeds)
  finals = np.array([final_accuracy(r) for r in screen_results])
  static = finals[:seeds]
  return [ScreenCell(tuple(cell), finals[seeds * (i + 1):seeds * (i + 2)], static)
          for i, cell in enumerate(study.cells)]


def chosen_cell(study: Study, screen_results: Sequence | None) -> tuple[float, int] | None:
  """The (A, T) of the confirmation: the study's fixed cell, else the screen's choice.

  The screened cell with the largest mean paired gain (the first in order on a tie; a
  cell with a diverged run ranks last), or None while a screen run is missing.

  Examples:
    >>> study = dataclasses.replace(STUDIES["myrtle5-64-cpu"], cells=((2.0, 12), (4.0, 38)))
    >>> run = lambda accuracy: store.Record(RUN_NAME, {}, {},
    ...                                     {"test_accuracy": np.array([0.1, accuracy])})
    >>> static, small, large = [run(0.5)] * 2, [run(0.52), run(0.49)], [run(0.51)] * 2
    >>> chosen_cell(study, static + small + large)
    (4.0, 38)
    >>> chosen_cell(study, static + small + [run(0.6), None]) is None
    True
    >>> chosen_cell(study, static + small + [run(0.6), run(np.nan)])  # diverged
    (2.0, 12)
  """
  if study.cell is not None:
    return study.cell
  cells = screen_cells(study, screen_results)
  if cells is None:
    return None
  gains = np.nan_to_num([c.gain for c in cells], nan=-np.inf)
  if not np.isfinite(gains).any():
    raise ValueError(f"every screened cell has a diverged run; no cell to confirm, got "
                     f"cells={study.cells}")
  amplitude, period = cells[int(np.argmax(gains))].cell
  return float(amplitude), int(period)


@dataclasses.dataclass
class Comparison:
  """A dynamical arm against the static loss on paired seeds.

  Attributes:
    cell: (A, T).
    seeds: the paired seeds.
    static, dynamical: ``(seeds,)`` final test accuracies.
    gain: the mean paired difference (dynamical minus static) and its 95% bootstrap
      interval.
    detectable: the smallest true mean difference the design detects with 80% power
      (:func:`dynloss_book.stats.detectable_difference`; NaN for one seed).
  """
  cell: tuple
  seeds: tuple
  static: np.ndarray
  dynamical: np.ndarray
  gain: stats.Interval
  detectable: float


def comparison(study: Study, results: dict, wrn: bool = False) -> Comparison | None:
  """The confirmation (or, with ``wrn``, the Wide ResNet check) from :func:`run_study`'s
  results; None until every run of both arms is stored."""
  static_part, dynamical_part = ("wrn_static", "wrn_dynamical") if wrn else ("static",
                                                                            "dynamical")
  static, dynamical = results.get(static_part), results.get(dynamical_part)
  if not static or not dynamical or None in static or None in dynamical:
    return None
  static = np.array([final_accuracy(r) for r in static])
  dynamical = np.array([final_accuracy(r) for r in dynamical])
  seeds = study.wrn_seeds if wrn else study.seeds
  gain = stats.paired_bootstrap(dynamical, static)
  detectable = (stats.detectable_difference(dynamical - static) if len(seeds) > 1
                else float("nan"))
  return Comparison(chosen_cell(study, results.get("screen")), tuple(seeds), static, dynamical,
                    gain, detectable)


def run_study(name_or_study, results_dir, *, parts: Sequence[str] = PARTS, source=None,
              checkpoint_dir=None, recompute: bool = False, progress: bool = True,
              stored_only: bool = False, loop: str | None = None,
              engine: str | None = None) -> dict[str, list]:
  """Run (or load) the parts of a study; stored runs are reused.

  The screen runs first, then the paired parts (with ``engine="one"`` seed by seed: a
  seed's static run, then its dynamical one, so that an interrupted study holds whole
  pairs; with ``"many"`` all of them together), then the horizon.

  When a dynamical part is asked for and the study takes its cell from the screen,
  the screen is run (or loaded) first, even if not in ``parts``; with
  ``stored_only`` and an incomplete screen the dynamical runs come back as None.

  Args:
    name_or_study: a key of :data:`STUDIES` or a :class:`Study`.
    results_dir: the results folder.
    parts: which of :data:`PARTS` to run.
    source: where to read the data (default: see :func:`load_data`).
    checkpoint_dir: checkpoints of runs in progress.
    recompute: retrain stored runs.
    progress: progress bars.
    stored_only: do not train; missing runs come back as None.
    loop: see :class:`~dynloss_lib.minibatch.Trainer` (``engine="one"``).
    engine: ``"one"``, ``"many"`` or None (:func:`dynloss_book.cifar_runs.default_engine`):
      see :data:`dynloss_book.cifar_runs.ENGINES`; with ``"many"`` the data go to the
      device once for the whole study.

  Returns:
    part -> list of :class:`~dynloss_book.store.Record` (or None), in :func:`study_configs` order.
  """
  study = STUDIES[name_or_study] if isinstance(name_or_study, str) else name_or_study
  unknown = [p for p in parts if p not in PARTS]
  if unknown:
    raise ValueError(f"unknown part(s) {unknown}; known: {PARTS}")
  other_device = not stored_only and jax.default_backend() != study.backend
  if other_device:
    print(f"this study's runs are trained on a {study.backend}, and this machine computes on "
          f"a {jax.default_backend()} (another arithmetic): it trains none of them and loads "
          "what is stored", flush=True)
    stored_only = True
  engine = engine or default_engine()
  data = LazyData(study.data, source)
  get = data.get if engine == "one" else lambda: data.on_device(study.base.eval_batch_size)
  label = data_label(study.data)
  needs_cell = study.cell is None and {"dynamical", "wrn_dynamical"} & set(parts)
  order = [p for p in PARTS if p in parts or (p == "screen" and needs_cell)]
  done: dict = {}

  def train(configs):
    todo = [c for c in configs if c is not None and c not in done]
    done.update(run_configs(todo, get, label, results_dir, engine=engine,
                            checkpoint_dir=checkpoint_dir, recompute=recompute,
                            progress=progress, stored_only=stored_only, loop=loop))

  screen = []
  if "screen" in order:
    train(study_configs(study)["screen"])
    screen = [done[c] for c in study_configs(study)["screen"]]
  configs = study_configs(study, chosen_cell(study, screen) if screen else None)
  paired = []
  for static_part, dynamical_part in (("static", "dynamical"), ("wrn_static", "wrn_dynamical")):
    for static, dynamical in zip(configs[static_part], configs[dynamical_part]):
      paired += [static] * (static_part in order) + [dynamical] * (dynamical_part in order)
  train(paired + (configs["horizon"] if "horizon" in order else []))
  results = {part: [done.get(c) if c is not None else None for c in configs[part]]
             for part in parts}
  if other_device and missing_runs(study, results):
    store.refuse_computing(results_dir, f"{len(missing_runs(study, results))} runs of a "
                                        f"{study.backend} study")
  return results


def curves(results: Sequence, name: str = "test_accuracy") -> np.ndarray:
  """Stack one history over the stored runs of a part: ``(runs, epochs)``.

  Runs that are not stored (None) are left out.

  Examples:
    >>> curves([store.Record(RUN_NAME, {}, {}, {"test_accuracy": np.array([0.1, 0.2])}), None])
    array([[0.1, 0.2]])
  """
  rows = [result.history[name] for result in results if result is not None]
  return np.stack(rows) if rows else np.zeros((0, 0))


def missing_runs(study: Study, results: dict) -> list[minibatch.CifarConfig | str]:
  """What of ``results`` (from :func:`run_study`) is not stored yet.

  Distinct configurations, and for dynamical runs whose cell is not chosen
  yet (the screen is incomplete) a line saying how many.
  """
  configs = study_configs(study, chosen_cell(study, results.get("screen")))
  missing, undecided = [], 0
  for part, found in results.items():
    for config, result in zip(configs[part], found):
      if config is None:
        undecided += 1
      elif result is None and config not in missing:
        missing.append(config)
  if undecided:
    missing.append(f"{undecided} dynamical runs, whose (A, T) the complete screen chooses")
  return missing


def cifar10_myrtle5_64(directory, recompute: bool = False, progress: bool = True):
  """The chapter's stored CPU study, ``myrtle5-64-cpu`` (needs the subset file, see
  :func:`dynloss_book.cifar_runs.find_subset`)."""
  return run_study("myrtle5-64-cpu", directory, recompute=recompute, progress=progress)


def cifar10_myrtle5_64_gpu(directory, recompute: bool = False, progress: bool = True):
  """The chapter's stored H200 study, ``myrtle5-64-gpu`` (trained only on a GPU)."""
  return run_study("myrtle5-64-gpu", directory, recompute=recompute, progress=progress)
