"""CIFAR-10 studies: static vs dynamical loss, the (A, T) sweep, the Wide ResNet check.

A :class:`Study` names one setting of the three experiments of the book's
chapter "CIFAR10 with Myrtle5". Its protocol keeps the choice of the
dynamical loss apart from its test: the (A, T) sweep runs on one seed
(``sweep_seed``); the comparison with the static loss, and the Wide ResNet
check, use the sweep's best cell (:func:`chosen_cell`, unless the study fixes
one) on other seeds. Three studies are defined (:data:`STUDIES`):

* ``"subset-cpu"``: what the stored results hold, sized for a 2-core CPU:
  Myrtle5 of width 16 on the 5,085-image training subset (tested on its
  1,017 test images), 30 epochs at batch 128; a WRN-10-1 for the comparison.
* ``"subset-gpu"``: the paper's Myrtle5-64 on the same subset, with 10 + 10
  seeds, a 5 x 4 sweep and a WRN-16-4: what a GPU session stores next.
* ``"full-gpu"``: the same study on the full CIFAR-10 (50,000 / 10,000 images,
  batch 512), downloaded on first use: for Colab.

Every run is stored by :func:`dynloss_lib.store.cached` as ``cifar10-run-{key}.npz``
(its per-epoch history) under the results folder, keyed by its
:class:`~dynloss_lib.minibatch.CifarConfig` and the md5 of its data; a run in
progress keeps a checkpoint after every epoch, so an interrupted study resumes::

  python -m dynloss_lib cifar10 --study full-gpu --results-dir book/results \\
      --checkpoint-dir /content/drive/MyDrive/dynloss-checkpoints
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Sequence

import numpy as np

from dynloss_lib import cifar, minibatch, provenance, store

RUN_NAME = "cifar10-run"
SUBSET_FILE = "cifar10_subset.npz"
SUBSET_MD5 = "e98607fef967a436a9531a2655089a73"
TINY_FILE = "cifar10_tiny.npz"
"""md5 of ``cifar10_subset.npz`` (5,085 training and 1,017 test images of CIFAR-10)."""
TINY_MD5 = "5e96ad38cdeb54c423e2d10ffcb7a865"
"""md5 of ``book/data/cifar10_tiny.npz``: the subset's first 300 training and 100 test images,
committed so that the chapter's tiny setting runs anywhere, offline included."""


@dataclasses.dataclass(frozen=True)
class Study:
  """One setting of the chapter's three experiments.

  Attributes:
    data: ``"subset"`` (the 5,085-image file), ``"tiny"`` (its committed 400-image slice)
      or ``"full"`` (all of CIFAR-10).
    base: the :class:`~dynloss_lib.minibatch.CifarConfig` shared by every run
      (its ``static_epochs`` included; its amplitude, period and seed are set per run).
    seeds: seeds of the static-vs-dynamical comparison.
    sweep_amplitudes, sweep_periods: the (A, T) grid (periods in steps), run on ``sweep_seed``.
    sweep_seed: the seed of the sweep (keep it out of ``seeds``).
    wrn_depth, wrn_widen_factor, wrn_seeds: the Wide ResNet comparison.
    amplitude, period: the dynamical loss of the comparisons; None (both):
      the sweep's best cell, :func:`chosen_cell`.
  """
  data: str
  base: minibatch.CifarConfig
  seeds: tuple[int, ...]
  sweep_amplitudes: tuple[float, ...]
  sweep_periods: tuple[int, ...]
  sweep_seed: int
  wrn_depth: int
  wrn_widen_factor: int
  wrn_seeds: tuple[int, ...]
  amplitude: float | None = None
  period: int | None = None

  def __post_init__(self):
    if (self.amplitude is None) != (self.period is None):
      raise ValueError("give both amplitude and period, or neither (the sweep's best cell), "
                       f"got amplitude={self.amplitude!r}, period={self.period!r}")
    if self.amplitude is None and not any(a > 1 for a in self.sweep_amplitudes):
      raise ValueError("with no fixed (amplitude, period) the sweep needs an amplitude > 1, "
                       f"got sweep_amplitudes={self.sweep_amplitudes!r}")


STUDIES = {
    "subset-cpu": Study(
        data="subset",
        base=minibatch.CifarConfig(width=16, epochs=30, batch_size=128, learning_rate=0.05,
                                   period=39, static_epochs=5),
        seeds=(1, 2, 3, 4, 5),
        sweep_amplitudes=(1.0, 2.0, 4.0, 10.0), sweep_periods=(9, 39, 117), sweep_seed=0,
        wrn_depth=10, wrn_widen_factor=1, wrn_seeds=(1, 2)),
    "subset-gpu": Study(
        data="subset",
        base=minibatch.CifarConfig(width=64, epochs=30, batch_size=128, learning_rate=0.05,
                                   period=39, static_epochs=5),
        seeds=tuple(range(1, 11)),
        sweep_amplitudes=(1.0, 2.0, 4.0, 10.0, 30.0), sweep_periods=(9, 39, 117, 390),
        sweep_seed=0, wrn_depth=16, wrn_widen_factor=4, wrn_seeds=(1, 2, 3, 4, 5)),
    "full-gpu": Study(
        data="full",
        base=minibatch.CifarConfig(width=64, epochs=30, batch_size=512, learning_rate=0.1,
                                   period=97, static_epochs=5),
        seeds=(1, 2, 3, 4, 5),
        sweep_amplitudes=(1.0, 2.0, 4.0, 10.0, 30.0), sweep_periods=(24, 97, 292, 970),
        sweep_seed=0, wrn_depth=16, wrn_widen_factor=4, wrn_seeds=(1, 2, 3)),
}
"""The studies. Periods are in optimiser steps: on the subset at batch 128 an epoch is
39 steps, on the full set at batch 512 it is 97, so the sweeps span about a quarter of an
epoch to three (subset-cpu) or ten epochs per cycle. The last 5 of the 30 epochs use the
static loss in every run."""


def find_subset() -> Path | None:
  """The 5,085-image subset file, or None.

  Looked for at ``$DYNLOSS_CIFAR10_SUBSET``, then as ``cifar10_subset.npz`` in
  the working folder, its ``data/`` folder (the book runs in ``book/``) and the
  download cache (:func:`dynloss_lib.cifar.default_cache_dir`). The file is not
  in the repository: ``scripts/make_cifar10_subset.py`` builds it from the
  official tarball, or pass its path with ``--data``.
  """
  candidates = [os.environ.get("DYNLOSS_CIFAR10_SUBSET"), Path.cwd() / SUBSET_FILE,
                Path.cwd() / "data" / SUBSET_FILE, cifar.default_cache_dir() / SUBSET_FILE]
  for candidate in candidates:
    if candidate and Path(candidate).is_file():
      return Path(candidate)
  return None


def data_label(kind: str) -> dict[str, str]:
  """What keys a stored run's data: the file's name and md5."""
  if kind == "subset":
    return {"name": SUBSET_FILE, "md5": SUBSET_MD5}
  if kind == "full":
    return {"name": cifar.TARBALL, "md5": cifar.MD5}
  if kind == "tiny":
    return {"name": TINY_FILE, "md5": TINY_MD5}
  raise ValueError(f"data must be 'subset', 'tiny' or 'full', got data={kind!r}")


def load_data(kind: str, source=None) -> cifar.CifarData:
  """Load the study's data (``source`` overrides where it is read from).

  The subset file is checked against :data:`SUBSET_MD5` so that stored
  results are never mixed with runs on other data.
  """
  if kind == "subset":
    path = Path(source) if source is not None else find_subset()
    if path is None:
      raise ValueError(f"{SUBSET_FILE} not found; pass its path (--data) or set "
                       "DYNLOSS_CIFAR10_SUBSET")
    found = cifar.md5sum(path) if path.is_file() else None
    if found != SUBSET_MD5:
      raise ValueError(f"{path} is not the expected subset file: md5 {found}, expected "
                       f"{SUBSET_MD5}")
    return cifar.cifar10(path)
  if kind == "tiny":
    found = cifar.md5sum(source) if source is not None and Path(source).is_file() else None
    if found != TINY_MD5:
      raise ValueError(f"data='tiny' needs the committed {TINY_FILE} (book/data/), got "
                       f"source={source!r} with md5 {found}")
    return cifar.cifar10(source)
  data_label(kind)
  return cifar.cifar10(source)


class _LazyData:
  def __init__(self, kind, source):
    self.kind, self.source, self.data = kind, source, None

  def get(self):
    if self.data is None:
      self.data = load_data(self.kind, self.source)
    return self.data


def run_config(config: minibatch.CifarConfig, data, label: dict, results_dir, *,
               checkpoint_dir=None, recompute: bool = False, progress: bool = True,
               stored_only: bool = False, loop: str | None = None):
  """Train ``config`` (or load its stored history).

  Args:
    config: the run.
    data: a :class:`~dynloss_lib.cifar.CifarData`, or a zero-argument
      callable returning one (only called if the run must be computed).
    label: the data's :func:`data_label` (part of the stored key).
    results_dir: the results folder.
    checkpoint_dir: where a run in progress keeps its checkpoint.
    recompute: train even if a stored result exists.
    progress: show a progress bar.
    stored_only: return None instead of training when nothing is stored.
    loop: see :class:`~dynloss_lib.minibatch.Trainer`.

  Returns:
    A :class:`~dynloss_lib.store.Record` (``history``: per-epoch arrays; ``final``:
    final and best test accuracy, device, training time, ``diverged_epoch``); or None.
  """
  key = {"run": config.to_dict(), "data": dict(label)}
  if stored_only:
    return store.load(results_dir, RUN_NAME, config, key)

  def compute():
    import jax
    run = minibatch.train(config, data() if callable(data) else data,
                          checkpoint_dir=checkpoint_dir, progress=progress, loop=loop)
    history = run.history
    final = {"final_test_accuracy": float(history["test_accuracy"][-1]),
             "best_test_accuracy": float(history["test_accuracy"].max()),
             "device": jax.devices()[0].device_kind,
             "train_seconds": float(np.nansum(history["epoch_seconds"])),
             "diverged_epoch": run.diverged_epoch}
    return store.Record(RUN_NAME, config, final, dict(history),
                        environment=provenance.environment())

  return store.cached(results_dir, RUN_NAME, config, compute, recompute=recompute, key=key)


def chosen_cell(study: Study, sweep_results: Sequence | None) -> tuple[float, int] | None:
  """The (A, T) of the study's comparisons.

  The study's own ``(amplitude, period)`` if it fixes one; otherwise the cell
  with ``A > 1`` of highest final test accuracy in the sweep on ``sweep_seed``
  (the first in row order on a tie), or None while any such cell is missing.
  A diverged cell (final accuracy NaN) ranks below every other.

  Args:
    study: the study.
    sweep_results: the ``"sweep"`` part of :func:`run_study` (None: not loaded).

  Returns:
    ``(amplitude, period)`` or None.

  Examples:
    >>> study = dataclasses.replace(STUDIES["subset-cpu"], sweep_amplitudes=(1.0, 4.0),
    ...                             sweep_periods=(9, 39))
    >>> run = lambda accuracy: store.Record(RUN_NAME, {}, {},
    ...                                     {"test_accuracy": np.array([0.1, accuracy])})
    >>> chosen_cell(study, [run(0.5), run(0.5), run(0.4), run(0.6)])
    (4.0, 39)
    >>> chosen_cell(study, [run(0.5), run(0.5), run(0.4), None]) is None
    True
    >>> chosen_cell(study, [run(0.5), run(0.5), run(0.4), run(np.nan)])  # diverged
    (4.0, 9)
  """
  if study.amplitude is not None:
    return study.amplitude, study.period
  if sweep_results is None:
    return None
  shape = len(study.sweep_amplitudes), len(study.sweep_periods)
  dynamical = np.broadcast_to((np.asarray(study.sweep_amplitudes) > 1)[:, None], shape)
  stored = np.asarray([r is not None for r in sweep_results]).reshape(shape)
  if not stored[dynamical].all():
    return None
  # A diverged run ends in NaN: it ranks last rather than blocking the choice.
  grid = np.nan_to_num(sweep_grid(study, sweep_results), nan=-np.inf)
  candidates = np.where(dynamical, grid, -np.inf)
  if not np.isfinite(candidates).any():
    raise ValueError("every sweep run with A > 1 diverged; no cell to compare, got "
                     f"sweep_amplitudes={study.sweep_amplitudes}, "
                     f"sweep_periods={study.sweep_periods}")
  row, column = np.unravel_index(np.argmax(candidates), shape)
  return float(study.sweep_amplitudes[row]), int(study.sweep_periods[column])


def study_configs(study: Study, cell: tuple[float, int] | None = None
                  ) -> dict[str, list[minibatch.CifarConfig | None]]:
  """Every run of a study, by part: ``sweep``, ``static``, ``dynamical``, ``wrn_*``.

  ``sweep`` lists the grid row by row (amplitudes) and column by column
  (periods); amplitude 1 cells are static runs (their period is the base's,
  since it does not matter). The dynamical parts use ``cell`` (default: the
  study's fixed cell); while it is unknown their entries are None.
  """
  base = study.base
  cell = cell if cell is not None else chosen_cell(study, None)
  static = lambda seed, **kw: base.replace(amplitude=1.0, period=base.period, seed=seed, **kw)

  def dynamical(seed, **kw):
    if cell is None:
      return None
    return base.replace(amplitude=float(cell[0]), period=int(cell[1]), seed=seed, **kw)

  seed = study.sweep_seed
  sweep = [static(seed) if a == 1 else base.replace(amplitude=a, period=t, seed=seed)
           for a in study.sweep_amplitudes for t in study.sweep_periods]
  wrn = dict(model="wrn", depth=study.wrn_depth, widen_factor=study.wrn_widen_factor)
  return {"sweep": sweep,
          "static": [static(s) for s in study.seeds],
          "dynamical": [dynamical(s) for s in study.seeds],
          "wrn_static": [static(s, **wrn) for s in study.wrn_seeds],
          "wrn_dynamical": [dynamical(s, **wrn) for s in study.wrn_seeds]}


PARTS = ("sweep", "static", "dynamical", "wrn_static", "wrn_dynamical")


def run_study(name_or_study, results_dir, *, parts: Sequence[str] = PARTS, source=None,
              checkpoint_dir=None, recompute: bool = False, progress: bool = True,
              stored_only: bool = False, loop: str | None = None) -> dict[str, list]:
  """Run (or load) the parts of a study, in order; stored runs are reused.

  When the dynamical parts are asked for and the study takes its cell from
  the sweep, the sweep is run (or loaded) first, even if not in ``parts``;
  with ``stored_only`` and an incomplete sweep the dynamical runs come back
  as None.

  Args:
    name_or_study: a key of :data:`STUDIES` or a :class:`Study`.
    results_dir: the results folder.
    parts: which of :data:`PARTS` to run.
    source: where to read the data (default: see :func:`load_data`).
    checkpoint_dir: checkpoints of runs in progress.
    recompute: retrain stored runs.
    progress: progress bars.
    stored_only: do not train; missing runs come back as None.
    loop: see :class:`~dynloss_lib.minibatch.Trainer`.

  Returns:
    part -> list of :class:`~dynloss_lib.store.Record` (or None), in :func:`study_configs` order.
  """
  study = STUDIES[name_or_study] if isinstance(name_or_study, str) else name_or_study
  unknown = [p for p in parts if p not in PARTS]
  if unknown:
    raise ValueError(f"unknown part(s) {unknown}; known: {PARTS}")
  data = _LazyData(study.data, source)
  label = data_label(study.data)
  needs_cell = study.amplitude is None and {"dynamical", "wrn_dynamical"} & set(parts)
  order = [p for p in PARTS if p in parts or (p == "sweep" and needs_cell)]
  done: dict = {}
  results = {}
  configs = study_configs(study)
  for part in order:
    if part in ("dynamical", "wrn_dynamical"):
      configs = study_configs(study, chosen_cell(study, results.get("sweep")))
    results[part] = []
    for config in configs[part]:
      if config is None:
        results[part].append(None)
        continue
      if config not in done or recompute:
        done[config] = run_config(config, data.get, label, results_dir,
                                  checkpoint_dir=checkpoint_dir, progress=progress,
                                  recompute=recompute, stored_only=stored_only, loop=loop)
      results[part].append(done[config])
  return {part: results[part] for part in parts}


def curves(results: Sequence, name: str = "test_accuracy") -> np.ndarray:
  """Stack one history over the stored runs of a part: ``(runs, epochs)``.

  Runs that are not stored (None) are left out.

  Examples:
    >>> curves([store.Record(RUN_NAME, {}, {}, {"test_accuracy": np.array([0.1, 0.2])}), None])
    array([[0.1, 0.2]])
  """
  rows = [result.history[name] for result in results if result is not None]
  return np.stack(rows) if rows else np.zeros((0, 0))


def sweep_grid(study: Study, results: Sequence, name: str = "test_accuracy") -> np.ndarray:
  """Final ``name`` over the (A, T) grid: ``(len(amplitudes), len(periods))``, NaN if missing.

  Examples:
    >>> study = STUDIES["subset-cpu"]
    >>> cells = len(study.sweep_amplitudes) * len(study.sweep_periods)
    >>> sweep_grid(study, [None] * cells).shape
    (4, 3)
  """
  finals = [np.nan if r is None else float(r.history[name][-1]) for r in results]
  return np.asarray(finals).reshape(len(study.sweep_amplitudes), len(study.sweep_periods))


def missing_runs(study: Study, results: dict) -> list[minibatch.CifarConfig | str]:
  """What of ``results`` (from :func:`run_study`) is not stored yet.

  Distinct configurations, and for dynamical runs whose cell is not chosen
  yet (the sweep is incomplete) a line saying how many.
  """
  configs = study_configs(study, chosen_cell(study, results.get("sweep")))
  missing, undecided = [], 0
  for part, found in results.items():
    for config, result in zip(configs[part], found):
      if config is None:
        undecided += 1
      elif result is None and config not in missing:
        missing.append(config)
  if undecided:
    missing.append(f"{undecided} dynamical runs, whose (A, T) the complete sweep chooses")
  return missing


def _study_parts(parts):
  def experiment(directory, recompute=False, progress=True):
    return run_study("subset-cpu", directory, parts=parts, recompute=recompute,
                     progress=progress)
  return experiment


cifar10_static_vs_dynamical = _study_parts(("static", "dynamical"))
cifar10_sweep = _study_parts(("sweep",))
cifar10_wrn = _study_parts(("wrn_static", "wrn_dynamical"))
