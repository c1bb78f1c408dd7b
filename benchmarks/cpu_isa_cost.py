"""Cost of pinning XLA's CPU code to AVX2 (dynloss_lib.provenance.pin_cpu_isa).

Times the same spiral run (paper setting, float64, compile excluded) with the
host's own instruction set and limited to AVX2, alternating the two in fresh
processes (XLA reads the flag once per process) so that load from other jobs
falls on both alike, and prints per-width times and the ratio pinned/native.

  python benchmarks/cpu_isa_cost.py [--widths 100,1000] [--steps 20000] [--repeats 3] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys

CHILD = r"""
import sys, time
import jax
jax.config.update("jax_enable_x64", True)
from dynloss_lib import provenance
provenance.pin_cpu_isa(None if sys.argv[1] == "native" else sys.argv[1])
from dynloss_lib.experiments import SpiralConfig, run_spiral
config = SpiralConfig(width=int(sys.argv[2]), amplitude=70.0, steps=int(sys.argv[3]),
                      record_every=500)
run_spiral(config, progress=False)  # compile
start = time.perf_counter()
run_spiral(config, progress=False)
print(time.perf_counter() - start)
"""


def timed(isa: str, width: int, steps: int) -> float:
  env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
  root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
  out = subprocess.run([sys.executable, "-c", CHILD, isa, str(width), str(steps)], env=env,
                       cwd=root, check=True, capture_output=True, text=True).stdout
  return float(out.split()[-1])


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--widths", default="100,1000")
  parser.add_argument("--steps", type=int, default=20_000)
  parser.add_argument("--repeats", type=int, default=3)
  parser.add_argument("--json", action="store_true")
  args = parser.parse_args()
  result = {"steps": args.steps, "widths": {}}
  for width in (int(w) for w in args.widths.split(",")):
    times = {"native": [], "AVX2": []}
    for _ in range(args.repeats):
      for isa in times:
        times[isa].append(timed(isa, width, args.steps))
    ratios = [p / n for p, n in zip(times["AVX2"], times["native"])]
    result["widths"][width] = {
        "native_s": [round(t, 2) for t in times["native"]],
        "avx2_s": [round(t, 2) for t in times["AVX2"]],
        "ratio_median": round(statistics.median(ratios), 3)}
    if not args.json:
      print(f"width {width}: native {times['native']} s, AVX2 {times['AVX2']} s, "
            f"AVX2/native median {statistics.median(ratios):.3f}", flush=True)
  if args.json:
    print(json.dumps(result))


if __name__ == "__main__":
  main()
