"""What each of Fig. 4's in-loop measurements costs: the measured run with one part off at a time.

``benchmarks/fig4_measurements.py`` times the whole measured run against the plain one; this
splits the difference: the same run (width 100, A = 70, T = 5000, float64) with every
measurement, without the NTK, without the Lanczos runs, with neither, and with nothing measured
(compile times included), repeated and alternated in one process::

  python benchmarks/fig4_measurement_parts.py [--steps 20000] [--repeats 2]
"""

from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "book"))  # the book's code

import jax  # noqa: E402

jax.config.update("jax_enable_x64", True)  # float64, as in the paper

from dynloss_book import landscape  # noqa: E402
from dynloss_lib import provenance  # noqa: E402
from dynloss_lib.experiments import SpiralConfig  # noqa: E402


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--steps", type=int, default=20_000)
  parser.add_argument("--repeats", type=int, default=2)
  args = parser.parse_args(argv)
  config = SpiralConfig(width=100, amplitude=70.0, period=5000, steps=args.steps, record_every=1)
  never = args.steps  # a Lanczos run at step 0 only
  variants = {
      "every measurement": landscape.Measurements(),
      "no NTK": landscape.Measurements(ntk_points=0),
      "no Lanczos": landscape.Measurements(hessian_every=never),
      "class losses only": landscape.Measurements(ntk_points=0, hessian_every=never),
      "nothing measured": landscape.Measurements(ntk_points=0, hessian_every=never,
                                                 class_losses=False),
  }
  print(f"backend {jax.default_backend()}, XLA's CPU code limited to "
        f"{provenance.cpu_isa_in_effect() or 'nothing'}, {args.steps} steps, measured in the loop")
  seconds = {name: [] for name in variants}
  for _ in range(args.repeats):
    for name, measurements in variants.items():
      seconds[name].append(landscape.run_measured(config, measurements, progress=False,
                                                  measure="loop")[1])
  for name, values in seconds.items():
    print(f"{name:>18}: " + ", ".join(f"{s:.2f} s" for s in values))


if __name__ == "__main__":
  main()
