"""The widths 1000 and 300 verdicts across realisations of the arithmetic, not only seeds.

Full-batch GD at learning rate 1 is chaotic: two runs from the same initial network
whose floating-point operations differ only in order or vector width agree to
rounding for about a thousand steps, then part, and end as different networks. The
AVX2 pin (:func:`dynloss_lib.provenance.pin_cpu_isa`) makes one such **realisation**
repeatable on any x86 CPU; it does not make it the only one. This study asks whether
the generalisation verdicts hold across realisations. Its design, fixed before its runs:

1. **Realisations** (:data:`REALISATIONS`), each a stated, reproducible change of the
   arithmetic from the same initial networks: ``"pinned"``, the stored runs (XLA's x86
   code limited to AVX2); ``"avx512"``, the same code limited to AVX-512 instead (keyed
   by ``cpu_isa`` in the store; computable on a CPU with AVX-512); ``"perturbed"``, the
   AVX2 code with the output layer's initial weights scaled by ``1 + 1e-12``
   (:attr:`~dynloss_lib.experiments.SpiralConfig.output_perturbation`).
2. **Width 1000**: the confirmed cell of the protocol study (A = 2, T = 1000, last cycle
   static) and the static loss on that study's 24 confirmation seeds, in all three
   realisations. **Width 300**: the follow-up's cell (A = 70, T = 5000) and the static
   loss on its 32 seeds, pinned and perturbed. Every run as the generalisation study's
   (:func:`dynloss_book.generalisation.study_config`), computed on two host devices as
   the stored runs were.
3. **Report**, per width: the paired gain (dynamical minus static validation accuracy)
   of each realisation with its 95% bootstrap interval over seeds; the shift of each
   realisation's gain from the pinned one's, paired by seed; the spread of a seed's gain
   between realisations beside the spread between seeds; and the **pooled** gain, a
   bootstrap over seeds of each seed's gain averaged over its realisations, which
   accounts for both sources. The verdict is the pooled interval: above 0, below 0, or
   no effect resolvable, bounded by its farther bound (:meth:`~dynloss_book.stats.Interval.verdict`).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from dynloss_lib import provenance
from dynloss_book import generalisation as gen
from dynloss_book import protocols, stats, store
from dynloss_book.spiral import load_runs, stored_runs


@dataclasses.dataclass(frozen=True)
class Realisation:
  """One reproducible arithmetic for the same initial networks.

  Attributes:
    name: its label.
    cpu_isa: the instruction set XLA's CPU code is limited to.
    output_perturbation: the output layer's initial weights are scaled by
      ``1 + output_perturbation``.
    text: what it is, in words.
  """
  name: str
  cpu_isa: str
  output_perturbation: float
  text: str


REALISATIONS = {r.name: r for r in (
    Realisation("pinned", "AVX2", 0.0, "the stored runs: XLA's x86 code limited to AVX2"),
    Realisation("avx512", "AVX512", 0.0, "XLA's x86 code limited to AVX-512"),
    Realisation("perturbed", "AVX2", 1e-12,
                "AVX2, output layer's initial weights scaled by 1 + 1e-12"),
)}


@dataclasses.dataclass(frozen=True)
class Part:
  """One verdict asked again: a cell against the static loss, on fixed seeds.

  Attributes:
    width: hidden units.
    cell: (A, T) of the dynamical arm.
    seeds: the paired seeds (those of the verdict's confirmation).
    realisations: names in :data:`REALISATIONS`, the stored ``"pinned"`` first.
  """
  width: int
  cell: tuple
  seeds: tuple
  realisations: tuple

  def config(self, realisation: str, arm: str, seed: int):
    """The run of ``arm`` (``"static"`` or ``"dynamical"``) for ``seed`` in a realisation.

    Examples:
      >>> part = PARTS["width 1000"]
      >>> part.config("perturbed", "dynamical", 100).output_perturbation
      1e-12
      >>> part.config("pinned", "dynamical", 100) == protocols.arm_config("last cycle", 2.0, 1000, 100)
      True
    """
    amplitude, period = {"static": (1.0, gen.STATIC_PERIOD), "dynamical": self.cell}[arm]
    config = gen.study_config(self.width, amplitude, period, seed)
    return config.replace(output_perturbation=REALISATIONS[realisation].output_perturbation)

  def configs(self, realisation: str) -> list:
    """Each seed's static run, then its dynamical one (so a computation holds whole pairs)."""
    return [self.config(realisation, arm, s) for s in self.seeds for arm in ARMS]


ARMS = ("static", "dynamical")
PARTS = {
    "width 1000": Part(protocols.WIDTH, protocols.CELL, protocols.CONFIRM_SEEDS[:24],
                       ("pinned", "avx512", "perturbed")),
    "width 300": Part(gen.FOLLOW_UP_WIDTH, gen.PAPER_CELL, gen.FOLLOW_UP_SEEDS[:32],
                      ("pinned", "perturbed")),
}
"""The two verdicts asked again (see the module docstring)."""


@dataclasses.dataclass
class Realised:
  """One part's runs over its realisations and seeds.

  Attributes:
    part: the :class:`Part`.
    seeds: the seeds stored in every realisation (a prefix of ``part.seeds``).
    val, train: ``arm -> (realisations, seeds)`` final validation and train accuracy.
    diverged: ``(realisations, seeds)`` True where a run of either arm diverged.
    runs: ``(realisation, arm, seed) -> stored run``.
  """
  part: Part
  seeds: tuple
  val: dict
  train: dict
  diverged: np.ndarray
  runs: dict

  @property
  def complete(self) -> bool:
    return self.seeds == tuple(self.part.seeds)

  @property
  def differences(self) -> np.ndarray:
    """``(realisations, seeds)`` paired gains: dynamical minus static validation accuracy."""
    return self.val["dynamical"] - self.val["static"]

  def gain(self, realisation: str) -> stats.Interval:
    """The paired gain of one realisation over its seeds."""
    r = self.part.realisations.index(realisation)
    return stats.paired_bootstrap(self.val["dynamical"][r], self.val["static"][r])

  def shift(self, realisation: str) -> stats.Interval:
    """A realisation's gain minus the pinned one's, paired by seed."""
    r = self.part.realisations.index(realisation)
    return stats.paired_bootstrap(self.differences[r], self.differences[0])

  def pooled(self) -> stats.Interval:
    """The gain over seeds and realisations: a bootstrap over seeds of each seed's gain
    averaged over its realisations."""
    return stats.paired_bootstrap(self.val["dynamical"].mean(axis=0),
                                  self.val["static"].mean(axis=0))

  def spread(self) -> dict[str, float]:
    """Standard deviations of a seed's gain: ``"realisations"`` (between the realisations
    of one seed, pooled over seeds) and ``"seeds"`` (between the seeds' mean gains)."""
    gains = self.differences
    return {"realisations": float(np.sqrt(np.mean(np.var(gains, axis=0, ddof=1)))),
            "seeds": float(np.std(gains.mean(axis=0), ddof=1))}

  def run_change(self, arm: str) -> float:
    """The median over seeds and the other realisations of |validation accuracy - the
    pinned run's|: how far one run's number moves with the arithmetic."""
    values = self.val[arm]
    return float(np.median(np.abs(values[1:] - values[0])))


def _process_isa() -> str:
  return provenance.cpu_isa_in_effect() or provenance.CPU_ISA


def _runs(directory, part: Part, name: str, recompute, progress, devices, compute):
  """One realisation's runs of ``part`` (None where not stored and not computable here)."""
  realisation = REALISATIONS[name]
  configs = part.configs(name)
  if compute and realisation.cpu_isa == _process_isa():
    return load_runs(directory, configs, recompute, progress, devices=devices,
                     cpu_isa=realisation.cpu_isa)
  runs = stored_runs(directory, configs, cpu_isa=realisation.cpu_isa)
  if compute and (None in runs or recompute):
    store.refuse_computing(directory, f"{runs.count(None)} runs of the {name} realisation")
    print(f"skipped: {runs.count(None)} of {len(runs)} runs of the {name} realisation "
          f"(width {part.width}) need XLA's code limited to {realisation.cpu_isa}; compute "
          f"them with --cpu-isa {realisation.cpu_isa}", flush=True)
  return runs


def realised(directory, part_name: str, recompute: bool = False, progress: bool = True,
             devices: int | None = None, compute: bool = True) -> Realised:
  """Run (or load) one part in every realisation this process can compute.

  The realisations whose instruction set is not this process's are only loaded (with
  ``compute``, a line says which are missing and how to compute them). The result
  covers the longest prefix of seeds stored in every realisation.
  """
  part = PARTS[part_name]
  found = {name: _runs(directory, part, name, recompute, progress, devices, compute)
           for name in part.realisations}
  stored = len(part.seeds)
  for runs in found.values():
    if None in runs:
      stored = min(stored, runs.index(None) // len(ARMS))
  seeds = tuple(part.seeds[:stored])
  runs = {(name, arm, s): found[name][i * len(ARMS) + a]
          for name in part.realisations for i, s in enumerate(seeds)
          for a, arm in enumerate(ARMS)}
  table = lambda arm, key: np.array([[runs[name, arm, s].final[key] for s in seeds]
                                     for name in part.realisations], dtype=float)
  diverged = table("static", "diverged").astype(bool) | table("dynamical", "diverged").astype(
      bool)
  return Realised(part, seeds, {arm: table(arm, "val_accuracy") for arm in ARMS},
                  {arm: table(arm, "train_accuracy") for arm in ARMS}, diverged, runs)


def realisations(directory, recompute: bool = False, progress: bool = True,
                 devices: int | None = None, compute: bool = True) -> dict[str, Realised]:
  """The whole study: part name -> :class:`Realised` (see the module docstring)."""
  return {name: realised(directory, name, recompute, progress, devices, compute)
          for name in PARTS}
