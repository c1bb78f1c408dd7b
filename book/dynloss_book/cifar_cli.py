"""``python -m dynloss_book cifar10 ...`` (from the ``book/`` folder; see :mod:`dynloss_book.cifar10`).

Either ``--study NAME`` runs (or resumes) a whole study of the book's CIFAR
chapter, or the options run every combination of their values::

  python -m dynloss_book cifar10 --study myrtle5-64-cpu --results-dir results \\
      --data ../../shared/data/cifar10_subset.npz
"""

from __future__ import annotations

import json

from dynloss_lib import cifar, convnets, losses, minibatch, schedules
from dynloss_lib.cli import parse_float_list, parse_int_list
from dynloss_book import RESULTS, cifar_fit
from dynloss_book.cifar10 import (PARTS, STUDIES, check_whole_rounds, chosen_cell, run_config,
                                  run_study, study_configs)


def add_parser(subparsers):
  parser = subparsers.add_parser(
      "cifar10", help="train Myrtle5 / a Wide ResNet on CIFAR-10 with minibatch SGD",
      description="Train on CIFAR-10 with the dynamical cross-entropy and store each run's "
                  "history (resumable). Either --study NAME runs a whole study of the book "
                  "chapter, or the options below run every combination of their values.")
  parser.add_argument("--study", choices=sorted(STUDIES) + [cifar_fit.NAME], default=None,
                      help="run a whole study (its data, models, seeds, screen and "
                           f"confirmation; {cifar_fit.NAME}: its pilots first, then the study "
                           "they decide)")
  parser.add_argument("--parts", default=",".join(PARTS),
                      help=f"with --study: which parts, from {','.join(PARTS)}")
  parser.add_argument("--data", default=None,
                      help="an .npz file, a cifar-10-batches-py folder or the tarball "
                           "(default: download into the cache; for the myrtle5-64-* studies, "
                           "the subset file, see dynloss_book.cifar_runs.find_subset)")
  parser.add_argument("--model", choices=sorted(convnets.MODELS), default="myrtle5")
  parser.add_argument("--loss", choices=tuple(losses.DYNAMICAL_LOSSES), default="cross_entropy",
                      help="the loss that Gamma weights (default cross_entropy, the paper's)")
  parser.add_argument("--shape", choices=tuple(schedules.SHAPES), default="triangle",
                      help="shape of Gamma over a cycle (default triangle, the paper's)")
  parser.add_argument("--width", type=parse_int_list, default=[64],
                      help="Myrtle5 channels (default 64)")
  parser.add_argument("--depth", type=int, default=16, help="WRN depth 6n+4 (default 16)")
  parser.add_argument("--widen-factor", type=int, default=4, help="WRN k (default 4)")
  parser.add_argument("--amplitude", type=parse_float_list, default=[1.0],
                      help="A >= 1; 1 is the static loss (default 1)")
  parser.add_argument("--period", type=parse_int_list, default=[100],
                      help="T in optimiser steps; cycles last T+1 steps (default 100)")
  parser.add_argument("--period-epochs", type=parse_float_list, default=None,
                      help="T in epochs instead (converted to steps, overrides --period)")
  parser.add_argument("--seeds", type=parse_int_list, default=[0])
  parser.add_argument("--epochs", type=int, default=30)
  parser.add_argument("--static-epochs", type=int, default=0,
                      help="train the last this many epochs with the static loss (default 0); "
                           "the epochs before must be whole rounds of the ten classes")
  parser.add_argument("--batch-size", type=int, default=512)
  parser.add_argument("--learning-rate", type=float, default=0.1, help="peak (default 0.1)")
  parser.add_argument("--weight-decay", type=float, default=5e-4)
  parser.add_argument("--dtype", choices=["float32", "bfloat16"], default="float32")
  parser.add_argument("--train-size", type=int, default=None)
  parser.add_argument("--test-size", type=int, default=None)
  parser.add_argument("--no-augment", action="store_true")
  parser.add_argument("--results-dir", default=str(RESULTS),
                      help="where the results are stored (default: the book's results folder)")
  parser.add_argument("--checkpoint-dir", default=str(cifar.default_cache_dir() / "checkpoints"),
                      help="where runs in progress keep their checkpoints")
  parser.add_argument("--loop", choices=["scan", "python"], default=None,
                      help="scan: one jitted scan per epoch; python: a loop of jitted steps "
                           "(default: python on a CPU, scan elsewhere)")
  parser.add_argument("--recompute", action="store_true", help="retrain stored runs")
  parser.add_argument("--json", action="store_true", help="one JSON line per run")
  parser.add_argument("--no-progress", action="store_true")
  parser.set_defaults(handler=_run_cifar10_command)


def _print_run(config, result, as_json):
  summary = result.final
  line = {"config": config.to_dict(), **{k: v for k, v in summary.items()}}
  if as_json:
    print(json.dumps(line), flush=True)
  else:
    size = config.width if config.model == "myrtle5" else \
        f"{config.depth}-{config.widen_factor}"
    print(f"{config.model:>8} {size:>5} {config.amplitude:>6g} {config.period:>6} "
          f"{config.seed:>4} {summary['final_test_accuracy']:>9.4f} "
          f"{summary['best_test_accuracy']:>9.4f}", flush=True)


def _run_cifar10_command(args) -> int:
  progress = not args.no_progress
  header = f"{'model':>8} {'size':>5} {'A':>6} {'T':>6} {'seed':>4} {'final acc':>9} " \
           f"{'best acc':>9}"
  if args.study is not None:
    if args.study == cifar_fit.NAME:
      study = cifar_fit.decided_study(args.results_dir, source=args.data,
                                      checkpoint_dir=args.checkpoint_dir, progress=progress)
    else:
      study = STUDIES[args.study]
    parts = [p.strip() for p in args.parts.split(",") if p.strip()]
    results = run_study(study, args.results_dir, parts=parts, source=args.data,
                        checkpoint_dir=args.checkpoint_dir, recompute=args.recompute,
                        progress=progress, loop=args.loop)
    screen = results.get("screen") or run_study(study, args.results_dir, parts=["screen"],
                                                stored_only=True)["screen"]
    cell = chosen_cell(study, screen)
    configs = study_configs(study, cell)
    if not args.json:
      if study.cell is None and cell is not None:
        print(f"confirmation cell (the screen's choice on seeds {list(study.screen_seeds)}): "
              f"A={cell[0]:g}, T={cell[1]}")
      print(header)
    for part in parts:
      for config, result in zip(configs[part], results[part]):
        _print_run(config, result, args.json)
    return 0
  data = cifar.cifar10(args.data, progress=progress)
  data = cifar.subset(data, args.train_size, args.test_size)
  label = {"name": "custom", "fingerprint": cifar.fingerprint(data)}
  periods = args.period
  if args.period_epochs is not None:
    periods = [minibatch.epochs_to_steps(e, len(data.y_train), args.batch_size)
               for e in args.period_epochs]
  configs = [minibatch.CifarConfig(
      model=args.model, width=width, depth=args.depth, widen_factor=args.widen_factor,
      epochs=args.epochs, batch_size=args.batch_size, learning_rate=args.learning_rate,
      weight_decay=args.weight_decay, amplitude=amplitude, period=period,
      static_epochs=args.static_epochs, loss=args.loss, shape=args.shape,
      augment=not args.no_augment, dtype=args.dtype,
      seed=seed)
      for width in args.width for amplitude in args.amplitude for period in periods
      for seed in args.seeds]
  steps = minibatch.steps_per_epoch(len(data.y_train), args.batch_size)  # checks the batch size
  for config in configs:
    check_whole_rounds(config, steps)
  if not args.json:
    print(header)
  for config in configs:
    result = run_config(config, data, label, args.results_dir,
                        checkpoint_dir=args.checkpoint_dir, recompute=args.recompute,
                        progress=progress, loop=args.loop)
    _print_run(config, result, args.json)
  return 0

