"""``regenerate --check``: recompute stored results elsewhere and report what changed.

The spiral dynamics are chaotic: on another machine (another vector instruction
set, another core count) a recomputed run can end elsewhere. A check therefore
never replaces the stored results: it recomputes an experiment into a
temporary folder, lists every stored result whose numbers differ, and
evaluates the experiment's *claims* (the statistics the book states, each with
its threshold, listed in :data:`dynloss_book.registry.CLAIMS`) on both the
stored and the recomputed results, so one sees whether a claim still holds.
"""

from __future__ import annotations

import dataclasses
import json
import math
import tempfile
import zipfile
from pathlib import Path
from typing import Callable, Mapping

import numpy as np

from dynloss_book import store

IGNORED = ("wall_seconds", "environment")
"""Summary fields that may differ between two computations of the same result."""


@dataclasses.dataclass(frozen=True)
class Claim:
  """A statistic the book states, with its threshold.

  Attributes:
    text: the claim in words, e.g. ``"static median train accuracy < 0.9"``.
    statistic: its value on the results checked.
    holds: whether the statistic meets the threshold.
  """
  text: str
  statistic: float
  holds: bool


@dataclasses.dataclass(frozen=True)
class Change:
  """One stored result whose recomputed numbers differ.

  Attributes:
    file: the stored file's name.
    differences: field -> (stored, recomputed).
  """
  file: str
  differences: dict


def _differs(a, b) -> bool:
  if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
    return False
  return a != b


def device(environment: Mapping | None) -> str:
  """What a result's arithmetic depends on beyond its configuration: the backend and the
  device kind (``"cpu"``, ``"gpu NVIDIA H200"``); ``"unrecorded"`` without an environment.

  Examples:
    >>> device({"backend": "gpu", "device_kind": "NVIDIA H200"}), device({"backend": "cpu"})
    ('gpu NVIDIA H200', 'cpu')
  """
  if not environment:
    return "unrecorded"
  if environment.get("backend") == "cpu":
    return "cpu"
  return f"{environment.get('backend')} {environment.get('device_kind')}"


def compare(stored_dir, fresh_dir, skipped: list | None = None) -> list[Change]:
  """Compare every result in ``fresh_dir`` with the file of the same name in ``stored_dir``.

  A stored result made on another device (:func:`device`) cannot be recomputed bitwise here:
  it is not compared, and a line saying so goes to ``skipped``.

  Args:
    stored_dir: the results folder.
    fresh_dir: a folder of recomputed results.
    skipped: a list that receives one line per result not compared.

  Returns:
    A :class:`Change` for each result whose summary numbers differ (or that is
    not stored at all: its differences are ``{"file": ("missing", "computed")}``).
  """
  changes = []
  for fresh in sorted(Path(fresh_dir).glob("*.npz")):
    stored = Path(stored_dir) / fresh.name
    if not stored.exists():
      changes.append(Change(fresh.name, {"file": ("missing", "computed")}))
      continue
    try:
      old_record = store.read(stored)
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as error:
      changes.append(Change(fresh.name, {"file": (f"unreadable ({error!r})", "computed")}))
      continue
    new_record = store.read(fresh)
    made, here = device(old_record.environment), device(new_record.environment)
    if made != here:
      if skipped is not None:
        skipped.append(f"{fresh.name}: made on {made}, recomputed on {here} (another "
                       "arithmetic): not compared")
      continue
    old, new = old_record.final, new_record.final
    differences = {k: (old.get(k), new.get(k)) for k in sorted(set(old) | set(new))
                   if k not in IGNORED and _differs(old.get(k), new.get(k))}
    if differences:
      changes.append(Change(fresh.name, differences))
  return changes


@dataclasses.dataclass
class Report:
  """What a check of one experiment found.

  Attributes:
    name: the experiment.
    compared: how many results were recomputed.
    changes: the :class:`Change` list.
    claims: ``(stored, recomputed)`` :class:`Claim` pairs.
    skipped: one line per recomputed result not compared (made on another device).
  """
  name: str
  compared: int
  changes: list
  claims: list
  skipped: list = dataclasses.field(default_factory=list)

  @property
  def claim_flipped(self) -> bool:
    """True if a claim holds on one side and not on the other."""
    return any(old.holds != new.holds for old, new in self.claims)

  def lines(self) -> list[str]:
    """The report as printed by ``regenerate --check``."""
    out = [f"{self.name}: {self.compared} results recomputed, {len(self.changes)} changed"
           + (f", {len(self.skipped)} not compared" if self.skipped else "")]
    out += [f"  skipped {line}" for line in self.skipped]
    for change in self.changes:
      diffs = ", ".join(f"{k} {old!r} -> {new!r}" for k, (old, new) in
                        change.differences.items())
      out.append(f"  changed {change.file}: {diffs}")
    for old, new in self.claims:
      state = "FLIPPED" if old.holds != new.holds else "holds" if new.holds else "fails"
      out.append(f"  claim {state}: {old.text}: stored {old.statistic:.4g}, "
                 f"recomputed {new.statistic:.4g}")
    return out


def check(name: str, experiment: Callable, claims: list[Callable], results_dir,
          progress: bool = True, **options) -> Report:
  """Recompute ``experiment`` into a temporary folder and compare it with ``results_dir``.

  Args:
    name: the experiment's name.
    experiment: ``fn(directory, recompute=False, progress=True, **options)``.
    claims: its claims, ``fn(directory) -> Claim``.
    results_dir: the stored results (never written).
    progress: show progress bars.
    **options: passed to ``experiment`` (e.g. ``devices``).

  Returns:
    A :class:`Report`.
  """
  with tempfile.TemporaryDirectory(prefix=f"check-{name}-") as fresh:
    experiment(fresh, recompute=True, progress=progress, **options)
    skipped: list = []
    changes = compare(results_dir, fresh, skipped)
    return Report(name, len(list(Path(fresh).glob("*.npz"))), changes,
                  [(fn(results_dir), fn(fresh)) for fn in claims], skipped)
