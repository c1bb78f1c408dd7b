"""The CIFAR-10 studies' data and runs: where the subset is, what keys a run's data, and one
run trained (or loaded) and stored with its environment (see :mod:`dynloss_book.cifar10`)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from dynloss_lib import cifar, minibatch, provenance
from dynloss_book import store

RUN_NAME = "cifar10-run"
SUBSET_FILE = "cifar10_subset.npz"
SUBSET_MD5 = "e98607fef967a436a9531a2655089a73"
"""md5 of ``cifar10_subset.npz`` (5,085 training and 1,017 test images of CIFAR-10)."""
TINY_FILE = "cifar10_tiny.npz"
TINY_MD5 = "5e96ad38cdeb54c423e2d10ffcb7a865"
"""md5 of ``book/data/cifar10_tiny.npz``: the subset's first 300 training and 100 test images,
committed so that the chapter's tiny setting runs anywhere, offline included."""

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


class LazyData:
  """A study's data, loaded when first needed (and put on the device once, for ``"many"``)."""

  def __init__(self, kind, source):
    self.kind, self.source, self.data, self.device = kind, source, None, None

  def get(self):
    if self.data is None:
      self.data = load_data(self.kind, self.source)
    return self.data

  def on_device(self, eval_batch_size: int):
    from dynloss_lib import minibatch_many
    if self.device is None:
      self.device = minibatch_many.device_data(self.get(), eval_batch_size)
    return self.device


ENGINES = ("one", "many")
"""How a study's missing runs train: ``"one"`` at a time (:func:`dynloss_lib.minibatch.train`,
the fastest on a CPU) or ``"many"`` together, one compiled program per group
(:func:`dynloss_lib.minibatch_many.train_many`, for a GPU)."""


def default_engine() -> str:
  """``"many"`` on a GPU (or another accelerator), ``"one"`` on a CPU."""
  import jax
  return "one" if jax.default_backend() == "cpu" else "many"


def _record(run) -> store.Record:
  import jax
  history = run.history
  final = {"final_test_accuracy": float(history["test_accuracy"][-1]),
           "best_test_accuracy": float(np.nanmax(history["test_accuracy"])),
           "device": jax.devices()[0].device_kind,
           "train_seconds": float(np.nansum(history["epoch_seconds"])),
           "diverged_epoch": run.diverged_epoch}
  if "clean_train_accuracy" in history:
    final["final_clean_train_accuracy"] = float(history["clean_train_accuracy"][-1])
  return store.Record(RUN_NAME, run.config, final, dict(history),
                      environment=provenance.environment())


def _key(config, label) -> dict:
  return {"run": config.to_dict(), "data": dict(label)}


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
    A :class:`~dynloss_book.store.Record` (``history``: per-epoch arrays; ``final``:
    final and best test accuracy, device, training time, ``diverged_epoch``); or None.
  """
  key = _key(config, label)
  if stored_only:
    return store.load(results_dir, RUN_NAME, config, key)

  def compute():
    return _record(minibatch.train(config, data() if callable(data) else data,
                                   checkpoint_dir=checkpoint_dir, progress=progress, loop=loop))

  return store.cached(results_dir, RUN_NAME, config, compute, recompute=recompute, key=key)


def run_configs(configs, data, label: dict, results_dir, *, engine: str | None = None,
                checkpoint_dir=None, recompute: bool = False, progress: bool = True,
                stored_only: bool = False, loop: str | None = None) -> dict:
  """Train (or load) several runs: ``config -> stored record`` (None: not stored and
  ``stored_only``).

  With ``engine="one"`` each missing run trains and is stored in turn (:func:`run_config`,
  in the order given); with ``"many"`` the missing runs train together
  (:func:`dynloss_lib.minibatch_many.train_many`: ``data`` may be on the device already) and
  each is stored as its group ends. ``engine=None``: :func:`default_engine`.
  """
  engine = engine or default_engine()
  if engine not in ENGINES:
    raise ValueError(f"engine must be one of {ENGINES} or None, got {engine=}")
  configs = list(dict.fromkeys(configs))
  if engine == "one" or stored_only:
    return {c: run_config(c, data, label, results_dir, checkpoint_dir=checkpoint_dir,
                          recompute=recompute, progress=progress, stored_only=stored_only,
                          loop=loop) for c in configs}
  from dynloss_lib import minibatch_many
  found = {c: None if recompute else store.load(results_dir, RUN_NAME, c, _key(c, label))
           for c in configs}
  missing = [c for c, record in found.items() if record is None]
  if missing:
    store.refuse_computing(results_dir, f"{len(missing)} CIFAR-10 runs (the first: "
                                        f"{missing[0]})")

    def keep(run):
      store.save(results_dir, _record(run), _key(run.config, label))
      found[run.config] = store.load(results_dir, RUN_NAME, run.config, _key(run.config, label))

    minibatch_many.train_many(missing, data() if callable(data) else data,
                              checkpoint_dir=checkpoint_dir, progress=progress, on_run=keep)
  return found


