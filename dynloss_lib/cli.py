"""The library's command line: ``python -m dynloss_lib spiral ...``.

Every option takes one value or a list, so one command can run a grid::

  python -m dynloss_lib spiral --width 100 --amplitude 1,70 --period 5000 \\
      --steps 70000 --last-cycle-static --seeds 0-6 --json

Bad arguments print one line naming the bad value and exit with status 2.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Callable, Sequence

from dynloss_lib import provenance
from dynloss_lib.experiments import DTYPES
from dynloss_lib.losses import DYNAMICAL_LOSSES
from dynloss_lib.models import INITS
from dynloss_lib.schedules import SHAPES


def parse_int_list(text: str) -> list[int]:
  """``"0-6"`` -> 0..6; ``"1,3,5"`` -> [1, 3, 5]; ranges and commas mix.

  Examples:
    >>> parse_int_list("0-2,5")
    [0, 1, 2, 5]
  """
  values = []
  for part in text.split(","):
    part = part.strip()
    try:
      if "-" in part[1:]:
        low, high = part.split("-", 1) if not part.startswith("-") else (part, "")
        low, high = int(low), int(high)
        if high < low:
          raise ValueError
        values.extend(range(low, high + 1))
      else:
        values.append(int(part))
    except ValueError:
      raise argparse.ArgumentTypeError(
          f"expected integers or ranges like 0-6, got {part!r}") from None
  return values


def parse_float_list(text: str) -> list[float]:
  """``"1,70"`` -> [1.0, 70.0].

  Examples:
    >>> parse_float_list("1, 2.5")
    [1.0, 2.5]
  """
  try:
    return [float(part) for part in text.split(",")]
  except ValueError:
    raise argparse.ArgumentTypeError(f"expected numbers separated by commas, got {text!r}") \
        from None


def _add_spiral_parser(subparsers):
  parser = subparsers.add_parser(
      "spiral", help="train the spiral MLP with full-batch gradient descent",
      description="Full-batch GD of the spiral MLP; list-valued options run every combination.")
  add = parser.add_argument
  add("--width", type=parse_int_list, default=[100], help="hidden units, e.g. 100,1000")
  add("--amplitude", type=parse_float_list, default=[70.0], help="A >= 1; 1 is static")
  add("--period", type=parse_int_list, default=[5000], help="T; a cycle is T+1 steps")
  add("--steps", type=int, default=70_000, help="GD steps")
  add("--learning-rate", type=parse_float_list, default=[1.0], help="learning rate(s)")
  add("--seeds", type=parse_int_list, default=[0], help="initialisation seeds, e.g. 0-6 or 0,3")
  add("--init", choices=INITS, default="paper",
      help="paper: N(0,1/fan_in) weights, zero biases; glorot: the authors' 2022 update")
  add("--shape", choices=tuple(SHAPES), default="triangle", help="Gamma's shape over a cycle")
  add("--loss", choices=tuple(DYNAMICAL_LOSSES), default="cross_entropy",
      help="the loss Gamma weights (dynloss_lib.losses)")
  add("--start-mid", action="store_true", help="start the first cycle at its middle")
  add("--last-cycle-static", action="store_true", help="the last cycle static (Fig. 4's run)")
  add("--final-static-steps", type=int, default=0, help="the last N steps static, for any T")
  add("--validation", action="store_true", help="also report held-out validation accuracy")
  add("--dtype", choices=tuple(DTYPES), default="float64", help="parameter dtype")
  add("--batch-size", type=int, default=None,
      help="runs vmapped together per device (default: 1 on a CPU, 512 otherwise)")
  add_devices_option(parser)
  add("--json", action="store_true",
      help="one JSON object per run (final numbers, train_accuracy_last500: the median "
           "over the last 500 steps, which shows a run ending in a transient)")
  add("--no-progress", action="store_true", help="hide the progress bars")
  parser.set_defaults(handler=_run_spiral_command)


def _run_spiral_command(args) -> int:
  from dynloss_lib.experiments import SpiralConfig, run_spiral_grid
  if args.batch_size is not None and args.batch_size < 1:
    raise ValueError(f"--batch-size must be >= 1, got batch_size={args.batch_size}")
  configs = [
      SpiralConfig(width=width, amplitude=amplitude, period=period, steps=args.steps,
                   learning_rate=learning_rate, seed=seed, init=args.init, shape=args.shape,
                   start_mid=args.start_mid, last_cycle_static=args.last_cycle_static,
                   final_static_steps=args.final_static_steps, loss=args.loss,
                   record_every=max(1, args.steps // 1000), validation=args.validation,
                   dtype=args.dtype)
      for width in args.width for amplitude in args.amplitude for period in args.period
      for learning_rate in args.learning_rate for seed in args.seeds]
  if not args.json:
    print(f"{'width':>6} {'A':>7} {'T':>6} {'lr':>6} {'seed':>4} {'train acc':>9} "
          f"{'last 500':>8} {'static loss':>11} {'diverged':>9} {'seconds':>8}", flush=True)

  environment = provenance.environment(args.devices or 1)

  def report(run):
    line = run.summary()
    if args.json:
      print(json.dumps({**line, "environment": environment}), flush=True)
      return
    c = run.config
    diverged = "no" if run.diverged_step is None else f"@{run.diverged_step}"
    print(f"{c.width:>6} {c.amplitude:>7g} {c.period:>6} {c.learning_rate:>6g} "
          f"{c.seed:>4} {line['train_accuracy']:>9.4f} {line['train_accuracy_last500']:>8.4f} "
          f"{line['static_loss']:>11.4g} "
          f"{diverged:>9} {line['wall_seconds']:>8.2f}", flush=True)

  run_spiral_grid(configs, batch_size=args.batch_size, devices=args.devices,
                  progress=not args.no_progress, keep_params=False, on_result=report)
  return 0


def add_devices_option(parser):
  """``--devices`` and ``--cpu-isa``, for every subcommand that trains spiral runs."""
  parser.add_argument("--devices", type=int, default=None,
                      help="spread the runs over N devices (N host devices on a CPU); a run's "
                           "result does not depend on it")
  parser.add_argument("--cpu-isa", choices=provenance.CPU_ISAS + ("native",),
                      default=provenance.CPU_ISA,
                      help="limit XLA's x86 code to this instruction set (AVX2: CPUs with and "
                           "without AVX-512 compute the same runs; native: the host's)")


def use_devices(devices: int | None) -> None:
  """Make ``devices`` CPU devices exist (before JAX starts its backends).

  On a CPU, JAX has one device unless asked for more before its first
  computation; on a GPU this does nothing (the GPUs are the devices).

  Examples:
    >>> use_devices(0)
    Traceback (most recent call last):
    ...
    ValueError: --devices must be >= 1, got devices=0
  """
  if devices is None:
    return
  if devices < 1:
    raise ValueError(f"--devices must be >= 1, got {devices=}")
  import jax
  # More host devices than cores would only time-share them; past the cores the check in
  # training.run_mesh reports the bad count (on a GPU machine the GPUs are counted there).
  if devices <= (os.cpu_count() or 1):
    jax.config.update("jax_num_cpu_devices", devices)


class OneLineErrors(argparse.ArgumentParser):
  """Report usage errors as one line (``error: ...``) and exit with status 2."""

  def error(self, message):
    self.exit(2, f"error: {message} (see {self.prog} --help)\n")


def build_parser(prog: str = "python -m dynloss_lib",
                 commands: Sequence[Callable] = ()) -> argparse.ArgumentParser:
  """The parser: ``spiral``, then each ``add_parser(subparsers)`` of ``commands``."""
  parser = OneLineErrors(
      prog=prog,
      description="Dynamical loss functions (Ruiz-Garcia et al., ICML 2021): experiments "
                  "from the command line.")
  subparsers = parser.add_subparsers(dest="command", required=True,
                                     parser_class=OneLineErrors)
  _add_spiral_parser(subparsers)
  for add_parser in commands:
    add_parser(subparsers)
  return parser


def main(argv: Sequence[str] | None = None,
         parser: argparse.ArgumentParser | None = None) -> int:
  """Entry point; returns the exit status (2 with a one-line message for a bad value)."""
  parser = parser or build_parser()
  args = parser.parse_args(argv)
  import jax
  jax.config.update("jax_enable_x64", True)  # the spiral runs are float64, as in the paper
  try:
    isa = getattr(args, "cpu_isa", "native")  # the subcommands that train spiral runs pin it
    provenance.pin_cpu_isa(None if isa == "native" else isa)
    use_devices(getattr(args, "devices", None))
    return args.handler(args)
  except ValueError as error:
    print(f"error: {error}", file=sys.stderr)
    return 2
