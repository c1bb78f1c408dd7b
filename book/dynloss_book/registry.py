"""What ``python -m dynloss_book regenerate`` recomputes, and the extra CLI subcommands.

A table of names, not decorators: each entry names ``"module:function"``, imported
only when asked for, so the study modules never import this one (no import
cycle) and ``python -m dynloss_lib spiral`` loads no study at all.

An experiment is ``fn(directory, recompute=False, progress=True)`` that computes
(or loads) its stored results; a claim is ``fn(directory) -> dynloss_book.check.Claim``,
a statistic of an experiment's results with the threshold the book states
(``regenerate --check`` evaluates it on the stored and the recomputed results).
"""

from __future__ import annotations

import importlib
from typing import Callable

EXPERIMENTS: dict[str, str] = {
    "spiral_seeds": "dynloss_book.spiral:spiral_seeds",
    "spiral_bias_free": "dynloss_book.spiral:spiral_bias_free",
    "phase_width100": "dynloss_book.spiral:phase_width100",
    "phase_width1000": "dynloss_book.spiral:phase_width1000",
    "generalisation": "dynloss_book.generalisation:generalisation",
    "width1000_protocols": "dynloss_book.protocols:protocols",
    "realisations": "dynloss_book.realisations:realisations",
    "dynamical_mse": "dynloss_book.mse:dynamical_mse",
    "mse_curvature": "dynloss_book.mse_curvature:mse_curvature",
    "mse_stable_start": "dynloss_book.mse_stable:stable_start",
    "bifurcation_cascades": "dynloss_book.landscape:bifurcation_cascades",
    "instability_threshold": "dynloss_book.landscape:instability_threshold",
    "cifar10_myrtle5_64": "dynloss_book.cifar10:cifar10_myrtle5_64",
    "cifar10_myrtle5_64_gpu": "dynloss_book.cifar10:cifar10_myrtle5_64_gpu",
    "cifar10_fit": "dynloss_book.cifar_fit:cifar10_fit",
}

IN_PROGRESS: dict[str, str] = {
    "cifar10_fit": "its pilots are stored; the study they decide awaits a GPU",
    "cifar10_myrtle5_64_gpu": "the H200 call was stopped at its time budget: WRN-16-4 has 3 "
                              "of its 5 pairs (and a fourth static run)",
}
"""Experiments whose stored results are knowingly incomplete, and why."""

CLAIMS: dict[str, list[str]] = {
    "spiral_seeds": ["dynloss_book.spiral:static_stalls",
                     "dynloss_book.spiral:dynamical_fits"],
    "generalisation": ["dynloss_book.generalisation:confirmation_no_gain",
                       "dynloss_book.generalisation:follow_up_gain"],
    "width1000_protocols": ["dynloss_book.protocols:width1000_range"],
    "dynamical_mse": ["dynloss_book.mse:width100_train_gain",
                      "dynloss_book.mse:static_mse_never_fits",
                      "dynloss_book.mse:width1000_mse_collapses"],
    "mse_curvature": ["dynloss_book.mse_curvature:mse_edge_of_stability"],
    "mse_stable_start": ["dynloss_book.mse_stable:output_weighting_trains_faster",
                         "dynloss_book.mse_stable:units_survive"],
}

COMMANDS: list[str] = ["dynloss_book.cifar_cli:add_parser"]
"""``add_parser(subparsers)`` functions of subcommands beyond ``spiral`` and ``regenerate``."""


def resolve(target: str) -> Callable:
  """Import ``"module:function"`` and return the function.

  Examples:
    >>> resolve("dynloss_book.stats:paired_bootstrap").__name__
    'paired_bootstrap'
  """
  module, _, name = target.partition(":")
  return getattr(importlib.import_module(module), name)


def experiment(name: str) -> Callable:
  """The experiment called ``name``.

  Examples:
    >>> experiment("spiral_seeds").__name__
    'spiral_seeds'
    >>> experiment("nonsense")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: unknown experiment 'nonsense'; known: ['bifurcation_cascades', 'cifar10_fit', ...]
  """
  if name not in EXPERIMENTS:
    raise ValueError(f"unknown experiment {name!r}; known: {sorted(EXPERIMENTS)}")
  return resolve(EXPERIMENTS[name])


def claims(name: str) -> list[Callable]:
  """The claims of experiment ``name`` (possibly none)."""
  return [resolve(target) for target in CLAIMS.get(name, [])]
