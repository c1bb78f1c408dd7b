"""The generalisation study at width 1000: screen, confirm, and a width sweep.

The poster's claim: in the overparameterised regime (width 1000) a region of
(A, T) generalises better than the static loss. The design, fixed before any
of its runs was looked at:

1. **Screen.** A in :data:`AMPLITUDES` x T in :data:`PERIODS` on seeds
   :data:`SCREEN_SEEDS`, each dynamical run paired with the static run of the
   same initialisation seed. Per cell: the mean paired gain in validation
   accuracy (dynamical minus static) and its 95% bootstrap interval
   (:func:`dynloss_book.stats.paired_bootstrap`). The cell with the largest mean
   gain is chosen (:func:`best_cell`; one of ``len(AMPLITUDES) * len(PERIODS)``
   cells, so its screening gain is biased upwards by the choice).
2. **Confirm.** The chosen cell on fresh seeds (:data:`CONFIRM_SEEDS`, never
   used for the choice), paired with static runs: first 16 seeds, then 8 more
   at a time while the interval's half-width exceeds
   :data:`TARGET_HALF_WIDTH`, up to :data:`CONFIRM_MAX_SEEDS`. The verdict is
   the confirmation's interval: above 0, below 0, or "no effect larger than x".
3. **Width sweep.** Static, the chosen cell and (A = 70, T = 5000) at widths
   :data:`WIDTHS` on seeds :data:`WIDTH_SEEDS` (width 1000 reuses the screen's runs).
4. **Follow-up** (added after stages 1-3 were complete, so a second hypothesis
   with its own fresh seeds): the width sweep showed (A = 70, T = 5000) above
   the static loss in validation accuracy at width 300 on its 5 seeds, with
   equal train accuracy. :func:`follow_up` tests that cell at
   :data:`FOLLOW_UP_WIDTH` on :data:`FOLLOW_UP_SEEDS` with the confirmation's
   stopping rule and verdict.

Every run: the paper's initialisation, learning rate 1, float64, 70,000 steps,
the last cycle static, validation on the 3,000-point set
(:func:`dynloss_lib.data.spiral_validation` with ``draws=10``).
"""

from __future__ import annotations

import dataclasses
from typing import Sequence

import numpy as np

from dynloss_book import stats
from dynloss_book.spiral import load_runs, runs_for, spiral_config, stored_runs

WIDTH = 1000
AMPLITUDES = (1.5, 2.0, 3.0, 5.0, 10.0, 70.0)
PERIODS = (250, 1000, 5000)
SCREEN_SEEDS = tuple(range(6))
CONFIRM_SEEDS = tuple(range(100, 164))
"""Fresh seeds of the confirmation, taken in order (never used by the screen)."""
CONFIRM_FIRST = 16
CONFIRM_STEP = 8
CONFIRM_MAX_SEEDS = 48
TARGET_HALF_WIDTH = 0.004
FOLLOW_UP_WIDTH = 300
FOLLOW_UP_SEEDS = tuple(range(200, 264))
"""Fresh seeds of the follow-up (used by no other stage)."""
WIDTHS = (100, 300, 1000)
WIDTH_SEEDS = tuple(range(5))
PAPER_CELL = (70.0, 5000)
VALIDATION_DRAWS = 10
STATIC_PERIOD = 5000
"""The static loss does not depend on T; its runs use this period."""


def study_config(width: int, amplitude: float, period: int, seed: int):
  """One run of the study (see the module docstring).

  Examples:
    >>> config = study_config(1000, 2.0, 250, seed=3)
    >>> config.validation_draws, config.last_cycle_static, config.steps
    (10, True, 70000)
  """
  return spiral_config(width=width, amplitude=amplitude, period=period, seed=seed,
                       validation=True, validation_draws=VALIDATION_DRAWS)


def _static(width, seed):
  return study_config(width, 1.0, STATIC_PERIOD, seed)


def _screen_configs():
  """The screen's static runs, then its grid in (A, T, seed) order."""
  return [_static(WIDTH, s) for s in SCREEN_SEEDS] + [
      study_config(WIDTH, a, t, s) for a in AMPLITUDES for t in PERIODS for s in SCREEN_SEEDS]


def _sweep_losses(cell):
  return [(1.0, STATIC_PERIOD), tuple(cell), PAPER_CELL]


def _sweep_configs(cell):
  return [study_config(w, a, t, s) for a, t in _sweep_losses(cell) for w in WIDTHS
          for s in WIDTH_SEEDS]


def _pairs(width, cell, seeds):
  """Static and dynamical run of each seed, side by side."""
  return [c for s in seeds for c in (_static(width, s), study_config(width, *cell, s))]


def _final(runs, key):
  return np.array([r.final[key] for r in runs], dtype=float)


@dataclasses.dataclass
class Screen:
  """The screening grid.

  Attributes:
    amplitudes, periods, seeds: the grid.
    train, val: ``(A, T, seeds)`` final train and validation accuracy.
    static_train, static_val: ``(seeds,)`` for the static loss, same seeds.
    gains: ``(A, T)`` nested lists of :class:`~dynloss_book.stats.Interval`, the
      paired validation gain (None for a cell with a diverged run).
    diverged: ``(A, T, seeds)`` True where a run diverged.
  """
  amplitudes: tuple
  periods: tuple
  seeds: tuple
  train: np.ndarray
  val: np.ndarray
  static_train: np.ndarray
  static_val: np.ndarray
  gains: list
  diverged: np.ndarray


def screen(directory, recompute: bool = False, progress: bool = True,
           devices: int | None = None, compute: bool = True) -> Screen:
  """Run (or load) the screening grid and its paired static runs.

  With ``compute=False`` a missing run is a ValueError that says how to compute it.
  """
  runs = runs_for(directory, _screen_configs(), recompute, progress, devices, compute)
  static_runs, grid_runs = runs[:len(SCREEN_SEEDS)], runs[len(SCREEN_SEEDS):]
  shape = (len(AMPLITUDES), len(PERIODS), len(SCREEN_SEEDS))
  val = _final(grid_runs, "val_accuracy").reshape(shape)
  diverged = _final(grid_runs, "diverged").astype(bool).reshape(shape)
  static_val = _final(static_runs, "val_accuracy")
  gains = [[None if diverged[i, j].any() else stats.paired_bootstrap(val[i, j], static_val)
            for j in range(len(PERIODS))] for i in range(len(AMPLITUDES))]
  return Screen(AMPLITUDES, PERIODS, SCREEN_SEEDS, _final(grid_runs, "train_accuracy")
                .reshape(shape), val, _final(static_runs, "train_accuracy"), static_val,
                gains, diverged)


def best_cell(result: Screen) -> tuple[float, int]:
  """The (A, T) cell with the largest mean paired gain (cells with a diverged run excluded).

  Ties go to the first cell in the grid's order.

  Examples:
    >>> from dynloss_book.stats import Interval
    >>> toy = Screen((2.0, 5.0), (250,), (0,), None, None, None, None,
    ...              [[Interval(0.001, 0, 0, 1)], [Interval(0.003, 0, 0, 1)]], None)
    >>> best_cell(toy)
    (5.0, 250)
  """
  best, choice = -np.inf, None
  for i, amplitude in enumerate(result.amplitudes):
    for j, period in enumerate(result.periods):
      gain = result.gains[i][j]
      if gain is not None and gain.mean > best:
        best, choice = gain.mean, (amplitude, period)
  if choice is None:
    raise ValueError("every cell of the screen has a diverged run; no cell can be chosen")
  return choice


@dataclasses.dataclass
class Confirmation:
  """The chosen cell on fresh seeds.

  Attributes:
    cell: (A, T).
    seeds: the seeds used (a prefix of :data:`CONFIRM_SEEDS`).
    train, val, static_train, static_val: ``(seeds,)`` final accuracies.
    gain: the paired validation gain (:class:`~dynloss_book.stats.Interval`).
    diverged: ``(seeds,)`` True where the dynamical run diverged (its frozen
      parameters' accuracy counts, as the run ended).
    needed: the seeds the stopping rule asks for so far (``len(seeds)`` once complete;
      more while a block of seeds is partly stored).
    complete: True once the stopping rule is met (interval half-width at most
      :data:`TARGET_HALF_WIDTH`, or :data:`CONFIRM_MAX_SEEDS` seeds).
  """
  cell: tuple
  seeds: tuple
  train: np.ndarray
  val: np.ndarray
  static_train: np.ndarray
  static_val: np.ndarray
  gain: stats.Interval
  diverged: np.ndarray
  needed: int
  complete: bool = True


def confirm(directory, cell: tuple[float, int], recompute: bool = False,
            progress: bool = True, devices: int | None = None,
            compute: bool = True, width: int = WIDTH,
            seeds: Sequence[int] = CONFIRM_SEEDS) -> Confirmation | None:
  """Run (or load) the confirmation of ``cell``: 16 seeds, then 8 more at a time
  while the interval is wider than :data:`TARGET_HALF_WIDTH` on a side, up to
  :data:`CONFIRM_MAX_SEEDS`.

  Each seed's dynamical and static runs are computed side by side (one batch).
  With ``compute=False`` nothing is computed: the result covers the stored
  pairs (the longest stored prefix of ``seeds``, at least 2), and its
  ``complete`` is False while the stopping rule has not been met.

  Args:
    directory: the results folder.
    cell: (A, T).
    width: hidden units (the study's 1000; :func:`follow_up` uses 300).
    seeds: the fresh seeds, taken in order (at least :data:`CONFIRM_MAX_SEEDS`).
  """
  if len(seeds) < CONFIRM_MAX_SEEDS:
    raise ValueError(f"confirm needs at least {CONFIRM_MAX_SEEDS} seeds, got {len(seeds)}")
  count = CONFIRM_FIRST
  fresh = tuple(seeds)
  while True:
    seeds = fresh[:count]
    configs = _pairs(width, cell, seeds)
    if compute:
      runs = load_runs(directory, configs, recompute, progress, devices=devices)
    else:
      runs = stored_runs(directory, configs)
      if None in runs:
        stored = runs.index(None) // 2
        if stored < 2:
          return None
        seeds, runs = seeds[:stored], runs[:2 * stored]
    static_runs, dynamical = runs[0::2], runs[1::2]
    val, static_val = _final(dynamical, "val_accuracy"), _final(static_runs, "val_accuracy")
    gain = stats.paired_bootstrap(val, static_val)
    # The rule is checked at the end of a block only: a partly stored block is not complete.
    done = len(seeds) == count and (gain.half_width <= TARGET_HALF_WIDTH
                                    or count >= CONFIRM_MAX_SEEDS)
    if done or len(seeds) < count:
      return Confirmation(cell, seeds, _final(dynamical, "train_accuracy"), val,
                          _final(static_runs, "train_accuracy"), static_val, gain,
                          _final(dynamical, "diverged").astype(bool), count, complete=done)
    count = min(count + CONFIRM_STEP, CONFIRM_MAX_SEEDS)


@dataclasses.dataclass
class WidthSweep:
  """Train and validation accuracy against width for three losses.

  Attributes:
    widths, seeds: the sweep.
    labels: ``("static", "chosen cell A=.., T=..", "A=70, T=5000")``.
    train, val: ``(labels, widths, seeds)`` final accuracies.
  """
  widths: tuple
  seeds: tuple
  labels: tuple
  train: np.ndarray
  val: np.ndarray


def width_sweep(directory, cell: tuple[float, int], recompute: bool = False,
                progress: bool = True, devices: int | None = None,
                compute: bool = True) -> WidthSweep:
  """Run (or load) the width sweep for the static loss, ``cell`` and (70, 5000)."""
  labels = ("static", f"chosen cell A={cell[0]:g}, T={cell[1]}",
            f"A={PAPER_CELL[0]:g}, T={PAPER_CELL[1]}")
  runs = runs_for(directory, _sweep_configs(cell), recompute, progress, devices, compute)
  shape = (len(labels), len(WIDTHS), len(WIDTH_SEEDS))
  return WidthSweep(WIDTHS, WIDTH_SEEDS, labels, _final(runs, "train_accuracy").reshape(shape),
                    _final(runs, "val_accuracy").reshape(shape))


def follow_up(directory, recompute: bool = False, progress: bool = True,
              devices: int | None = None, compute: bool = True) -> Confirmation | None:
  """Stage 4: (A = 70, T = 5000) against static at width 300 on fresh seeds.

  The same stopping rule and verdict as :func:`confirm`, on
  :data:`FOLLOW_UP_SEEDS`.
  """
  return confirm(directory, PAPER_CELL, recompute, progress, devices, compute,
                 width=FOLLOW_UP_WIDTH, seeds=FOLLOW_UP_SEEDS)


@dataclasses.dataclass
class GeneralisationStudy:
  """The stages of the study (see the module docstring)."""
  screen: Screen
  cell: tuple
  confirmation: Confirmation | None
  widths: WidthSweep
  follow_up: Confirmation | None = None


def generalisation(directory, recompute: bool = False, progress: bool = True,
                   devices: int | None = None, compute: bool = True) -> GeneralisationStudy:
  """The whole study: screen, choose the cell, sweep the width, confirm the cell,
  then the width-300 follow-up.

  ``compute=False`` (the chapter) only loads: see :func:`confirm` for a
  confirmation still in progress.
  """
  grid = screen(directory, recompute, progress, devices, compute)
  cell = best_cell(grid)
  widths = width_sweep(directory, cell, recompute, progress, devices, compute)
  confirmation = confirm(directory, cell, recompute, progress, devices, compute)
  return GeneralisationStudy(grid, cell, confirmation, widths,
                             follow_up(directory, recompute, progress, devices, compute))


def confirmation_no_gain(directory):
  """The book's width-1000 verdict: the confirmed cell's lower 95% bound is at most 0
  (no improvement shown; the stored interval lies below 0)."""
  from dynloss_book.check import Claim
  study = generalisation(directory, progress=False, compute=False)
  gain = study.confirmation.gain
  return Claim(f"width 1000, A={study.cell[0]:g}, T={study.cell[1]}: lower 95% bound of the "
               "paired validation gain <= 0", gain.low, gain.low <= 0)


def follow_up_gain(directory):
  """The follow-up's verdict: at width 300, (70, 5000)'s lower 95% bound is above 0."""
  from dynloss_book.check import Claim
  gain = follow_up(directory, progress=False, compute=False).gain
  return Claim(f"width {FOLLOW_UP_WIDTH}, A={PAPER_CELL[0]:g}, T={PAPER_CELL[1]}: lower 95% "
               "bound of the paired validation gain > 0", gain.low, gain.low > 0)


def stored_counts(directory) -> dict[str, tuple[int, int]]:
  """How far the study's computation has come: stage -> (stored runs, runs needed).

  The later stages depend on the screen's chosen cell, so until the screen is
  complete they are reported as ``(0, 0)``. The confirmation and the follow-up
  need as many pairs as their stopping rule asks for: while it is not met, the
  runs needed are those of the next block of seeds.
  """
  grid = _screen_configs()
  found = stored_runs(directory, grid)
  counts = {"screen": (sum(r is not None for r in found), len(grid))}
  if None in found:
    return {**counts, "width sweep": (0, 0), "confirmation": (0, 0), "follow-up": (0, 0)}
  cell = best_cell(screen(directory, compute=False))
  sweep = _sweep_configs(cell)
  counts["width sweep"] = (sum(r is not None for r in stored_runs(directory, sweep)), len(sweep))
  for name, width, stage_cell, seeds in (("confirmation", WIDTH, cell, CONFIRM_SEEDS),
                                         ("follow-up", FOLLOW_UP_WIDTH, PAPER_CELL,
                                          FOLLOW_UP_SEEDS)):
    result = confirm(directory, stage_cell, compute=False, width=width, seeds=seeds)
    if result is None:
      first = _pairs(width, stage_cell, seeds[:CONFIRM_FIRST])
      counts[name] = (sum(r is not None for r in stored_runs(directory, first)), len(first))
    else:
      counts[name] = (2 * len(result.seeds), 2 * result.needed)
  return counts


def study_runs(directory, study: GeneralisationStudy) -> list:
  """Every distinct stored run of ``study`` (for its compute time and environments)."""
  configs = _screen_configs() + _sweep_configs(study.cell)
  configs += _pairs(WIDTH, study.cell, study.confirmation.seeds)
  if study.follow_up is not None:
    configs += _pairs(FOLLOW_UP_WIDTH, PAPER_CELL, study.follow_up.seeds)
  return stored_runs(directory, list(dict.fromkeys(configs)))


def sentence(study: GeneralisationStudy) -> str:
  """The verdict in one sentence, with its numbers."""
  gain, (amplitude, period) = study.confirmation.gain, study.cell
  cells = len(study.screen.amplitudes) * len(study.screen.periods)
  return (f"At width 1000, the best of {cells} screened cells (A = {amplitude:g}, "
          f"T = {period}) changes validation accuracy by {gain.text()} over {gain.n} fresh "
          f"paired seeds: {gain.verdict()}.")


def follow_up_sentence(study: GeneralisationStudy) -> str:
  """The follow-up's verdict in one sentence, with its numbers."""
  gain = study.follow_up.gain
  return (f"At width {FOLLOW_UP_WIDTH}, A = {PAPER_CELL[0]:g}, T = {PAPER_CELL[1]} changes "
          f"validation accuracy by {gain.text()} over {gain.n} fresh paired seeds: "
          f"{gain.verdict()}.")
