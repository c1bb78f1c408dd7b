"""The book's command line: ``python -m dynloss_book regenerate ...`` (from the ``book/`` folder).

It has the library's ``spiral`` command (:mod:`dynloss_lib.cli`), plus ``regenerate``
(recompute, check or complete the results the chapters load) and the studies'
commands (:data:`dynloss_book.registry.COMMANDS`).
"""

from __future__ import annotations

import inspect
from typing import Sequence

from dynloss_lib import cli as library_cli
from dynloss_book import RESULTS, registry


def _add_regenerate_parser(subparsers):
  parser = subparsers.add_parser(
      "regenerate", help="recompute the book's stored results",
      description="Recompute the results the book loads (book/results), with progress bars. "
                  "Without names, every registered experiment.")
  parser.add_argument("names", nargs="*", help="experiments to recompute (default: all)")
  parser.add_argument("--results-dir", default=str(RESULTS),
                      help="where the results are stored (default: the book's results folder)")
  parser.add_argument("--list", action="store_true", help="list the experiments and exit")
  parser.add_argument("--only-missing", action="store_true",
                      help="compute only results that are not stored yet")
  parser.add_argument("--check", action="store_true",
                      help="recompute into a temporary folder instead, print which stored "
                           "results changed and whether each claim's statistic still meets "
                           "its threshold; the stored results are never touched. Exit status "
                           "1 if a claim flips")
  library_cli.add_devices_option(parser)
  parser.set_defaults(handler=_run_regenerate_command)


def _run_regenerate_command(args) -> int:
  if args.list:
    for name in sorted(registry.EXPERIMENTS):
      print(name)
    return 0
  unknown = [name for name in args.names if name not in registry.EXPERIMENTS]
  if unknown:
    raise ValueError(f"unknown experiment(s) {unknown}; known: {sorted(registry.EXPERIMENTS)}")
  if args.check and args.only_missing:
    raise ValueError("--check recomputes everything it checks; it cannot be combined with "
                     "--only-missing")
  flipped = False
  for name in args.names or sorted(registry.EXPERIMENTS):
    print(f"== {name}", flush=True)
    fn = registry.experiment(name)
    options = {"devices": args.devices} if "devices" in inspect.signature(fn).parameters else {}
    if args.check:
      from dynloss_book import check
      report = check.check(name, fn, registry.claims(name), args.results_dir,
                           progress=True, **options)
      print("\n".join(report.lines()), flush=True)
      flipped |= report.claim_flipped
    else:
      fn(args.results_dir, recompute=not args.only_missing, progress=True, **options)
  return 1 if flipped else 0


def build_parser():
  return library_cli.build_parser(
      "python -m dynloss_book",
      [_add_regenerate_parser, *(registry.resolve(target) for target in registry.COMMANDS)])


def main(argv: Sequence[str] | None = None) -> int:
  """Entry point; returns the exit status."""
  return library_cli.main(argv, build_parser())
