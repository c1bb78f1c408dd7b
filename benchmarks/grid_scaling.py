"""How a grid of spiral runs scales with the number of devices it is spread over.

Usage: python benchmarks/grid_scaling.py [--devices 1,2] [--runs 8] [--steps 20000]
       [--width 100] [--json]

Creates max(--devices) devices before JAX starts (host devices on a CPU), then runs
the same grid of width-100 float64 runs on each device count in turn, in this one
process, compilation excluded. Prints run-steps/s per device count and the speed-up
of the last count over the first; --json prints one JSON object
{"devices", "run_steps_per_s", "speedup", "backend", "cpu_model", ...}.
"""

import argparse
import json
import time

import jax


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--devices", default="1,2", help="device counts, e.g. 1,2 (default)")
  parser.add_argument("--runs", type=int, default=8, help="runs in the grid (default 8)")
  parser.add_argument("--steps", type=int, default=20_000, help="steps per run (default 20000)")
  parser.add_argument("--width", type=int, default=100, help="hidden units (default 100)")
  parser.add_argument("--json", action="store_true", help="print one JSON object")
  args = parser.parse_args()
  counts = [int(c) for c in args.devices.split(",")]
  from dynloss_lib.cli import use_devices
  use_devices(max(counts))
  jax.config.update("jax_enable_x64", True)
  from dynloss_lib import provenance
  from dynloss_lib.experiments import SpiralConfig, run_spiral_grid

  configs = [SpiralConfig(width=args.width, amplitude=a, period=1000, steps=args.steps, seed=s,
                          last_cycle_static=True, record_every=500)
             for s in range(args.runs // 2) for a in (1.0, 70.0)]
  rates = []
  for devices in counts:
    run_spiral_grid(configs[:devices], devices=devices, progress=False)  # compile
    start = time.perf_counter()
    run_spiral_grid(configs, devices=devices, progress=False, keep_params=False)
    rates.append(len(configs) * args.steps / (time.perf_counter() - start))
    if not args.json:
      print(f"{devices} device(s): {rates[-1]:,.0f} run-steps/s", flush=True)
  env = provenance.environment(max(counts))
  result = {"devices": counts, "run_steps_per_s": [round(r, 1) for r in rates],
            "speedup": round(rates[-1] / rates[0], 3), "runs": len(configs),
            "steps": args.steps, "width": args.width, "dtype": "float64",
            "backend": env["backend"], "device_kind": env["device_kind"],
            "cpu_model": env["cpu_model"], "cpu_count": env["cpu_count"]}
  print(json.dumps(result) if args.json else f"speed-up {result['speedup']:.2f}x")


if __name__ == "__main__":
  main()
