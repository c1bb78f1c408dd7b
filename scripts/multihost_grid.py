"""Run one spiral grid over several hosts with ``jax.distributed`` and the same sharded code.

Every process runs this script with the same grid. ``jax.distributed.initialize``
joins the processes; :func:`dynloss_lib.experiments.run_spiral_grid` then builds
its mesh over the devices of *all* processes (``jax.devices()``), each device
trains its block of runs, and the results are gathered to every process
(process 0 prints them). There is no scheduler: the run axis is simply sharded.

On each of N hosts (GPU machines: one process per host sees its GPUs)::

    python scripts/multihost_grid.py --coordinator HOST0:1234 --num-processes N \\
        --process-id I [--amplitude 1,70 --seeds 0-7 --steps 70000]

On one machine, as a runnable demonstration (two CPU processes of one device
each, talking over localhost)::

    python scripts/multihost_grid.py --local-demo 2 --steps 2000

``--local-demo`` also runs the same grid in a single process and checks that
every run's result is bitwise the same.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys


def parse_args(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--coordinator", help="HOST:PORT of process 0")
  parser.add_argument("--num-processes", type=int)
  parser.add_argument("--process-id", type=int)
  parser.add_argument("--local-demo", type=int, metavar="N",
                      help="start N processes on this machine and compare with one process")
  parser.add_argument("--amplitude", default="1,70")
  parser.add_argument("--seeds", default="0-1")
  parser.add_argument("--steps", type=int, default=2000)
  parser.add_argument("--width", type=int, default=100)
  return parser.parse_args(argv)


def grid(args):
  import jax
  jax.config.update("jax_enable_x64", True)
  from dynloss_lib.cli import parse_float_list, parse_int_list
  from dynloss_lib.experiments import SpiralConfig, run_spiral_grid
  configs = [SpiralConfig(width=args.width, amplitude=a, period=500, steps=args.steps, seed=s,
                          last_cycle_static=True, record_every=100)
             for a in parse_float_list(args.amplitude) for s in parse_int_list(args.seeds)]
  runs = run_spiral_grid(configs, devices=None, progress=False, keep_params=False)
  return [{"amplitude": r.config.amplitude, "seed": r.config.seed,
           "static_loss": r.final["static_loss"], "train_accuracy": r.final["train_accuracy"]}
          for r in runs]


def worker(args):
  import jax
  jax.config.update("jax_cpu_collectives_implementation", "gloo")  # CPU processes only
  jax.distributed.initialize(args.coordinator, args.num_processes, args.process_id)
  results = grid(args)
  if jax.process_index() == 0:
    print(json.dumps({"processes": jax.process_count(), "devices": jax.device_count(),
                      "runs": results}), flush=True)


def local_demo(args):
  common = ["--amplitude", args.amplitude, "--seeds", args.seeds, "--steps", str(args.steps),
            "--width", str(args.width)]
  env = dict(os.environ, JAX_PLATFORMS="cpu")
  with socket.socket() as probe:  # a free port for the coordinator
    probe.bind(("localhost", 0))
    port = probe.getsockname()[1]
  workers = [subprocess.Popen([sys.executable, __file__, "--coordinator", f"localhost:{port}",
                               "--num-processes", str(args.local_demo), "--process-id", str(i),
                               *common], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, env=env)
             for i in range(args.local_demo)]
  outputs = [w.communicate(timeout=600) for w in workers]
  if any(w.returncode for w in workers):
    sys.exit(f"a worker failed: exit codes {[w.returncode for w in workers]}\n"
             + "\n".join(err[-2000:] for _, err in outputs))
  outputs = [out for out, _ in outputs]
  distributed = json.loads(outputs[0].strip().splitlines()[-1])
  single = grid(args)
  same = distributed["runs"] == single
  print(json.dumps({"processes": distributed["processes"], "devices": distributed["devices"],
                    "identical_to_one_process": same, "runs": distributed["runs"]}))
  sys.exit(0 if same else 1)


def main(argv=None):
  args = parse_args(argv)
  if args.local_demo:
    local_demo(args)
  elif None in (args.coordinator, args.num_processes, args.process_id):
    sys.exit("error: give --coordinator, --num-processes and --process-id (or --local-demo N)")
  else:
    worker(args)


if __name__ == "__main__":
  main()
