"""Throughput of spiral training: one scanned run against a yardstick, a grid, a Python loop.

Usage: python benchmarks/spiral_throughput.py [--steps 70000] [--grid 16] [--loop-steps 5000]
       [--dtype float64] [--width 100] [--repeats 3]

The yardstick is the minimal ``lax.scan`` of the same GD step (the same network, data and
Gamma, loss and accuracy recorded every step), written here in a few lines. One run of the
library and the yardstick are timed alternately in this process (compilation excluded), and
the library's ratio to the yardstick is printed for each repeat: the figure to compare across
machines. Then run-steps/s of a vmapped grid, and the speed-up over a Python loop of jitted
steps like the reference notebook.
"""

import argparse
import time

import jax

jax.config.update("jax_enable_x64", True)  # float64, as in the paper
import jax.numpy as jnp

from dynloss_lib import data, models, provenance, schedules
from dynloss_lib.experiments import DTYPES, SpiralConfig, run_spiral_grid
from dynloss_lib.losses import dynamical_cross_entropy
from spiral_step_costs import variant  # the yardstick, with no extra feature


def timed_grid(configs, batch_size, run_axis=None):
  run_spiral_grid(configs[:batch_size], batch_size=batch_size, progress=False,
                  run_axis=run_axis)  # compile
  start = time.perf_counter()
  run_spiral_grid(configs, batch_size=batch_size, progress=False, keep_params=False,
                  run_axis=run_axis)
  return time.perf_counter() - start


def yardstick(width, steps, dtype):
  """A timer of the minimal scanned GD loop: ``() -> seconds`` (compiled here)."""
  return variant(steps, width, dtype=dtype)[0]


def python_loop_steps_per_second(width, steps, dtype):
  """The reference's structure: a jitted step called from a Python loop."""
  x, y = data.spiral()
  x = jnp.asarray(x, dtype)
  module = models.mlp(width, dtype=dtype)
  params = module.init(jax.random.PRNGKey(0), x[:1])
  schedule = schedules.triangle(70.0, 5000, 3)

  @jax.jit
  def step(params, gamma):
    loss, grads = jax.value_and_grad(
        lambda p: dynamical_cross_entropy(module.apply(p, x), y, gamma))(params)
    return jax.tree_util.tree_map(lambda p, g: p - g, params, grads), loss

  params, loss = step(params, schedule(0))
  loss.block_until_ready()
  start = time.perf_counter()
  for t in range(steps):
    params, loss = step(params, schedule(t))
    float(loss)  # the reference records the loss every step
  return steps / (time.perf_counter() - start)


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--steps", type=int, default=70_000)
  parser.add_argument("--grid", type=int, default=16, help="runs in the vmapped grid")
  parser.add_argument("--loop-steps", type=int, default=5_000)
  parser.add_argument("--width", type=int, default=100)
  parser.add_argument("--dtype", choices=list(DTYPES), default="float64")
  parser.add_argument("--repeats", type=int, default=3, help="alternations with the yardstick")
  args = parser.parse_args()
  print(f"backend {jax.default_backend()}, devices {jax.devices()}, width {args.width}, "
        f"{args.dtype}")

  base = SpiralConfig(width=args.width, steps=args.steps, dtype=args.dtype,
                      last_cycle_static=True, record_every=1)
  minimal = yardstick(args.width, args.steps, DTYPES[args.dtype])
  # The default (None) compiles a lone run with the run axis on a CPU pinned to an
  # instruction set (the book's stored arithmetic), without it elsewhere; both are timed.
  print(f"the default here: {'run axis' if provenance.lone_run_axis() else 'no run axis'} "
        f"(XLA's CPU code limited to {provenance.cpu_isa_in_effect() or 'nothing'})")
  settings = {"default": None, "run axis": True, "no run axis": False}
  ratios = {name: [] for name in settings}
  seconds = {name: [] for name in settings}
  for repeat in range(args.repeats):  # alternated, so that all see the same machine state
    reference = minimal()
    line = [f"repeat {repeat + 1}: yardstick {args.steps / reference:,.0f} steps/s"]
    for name, run_axis in settings.items():
      library = timed_grid([base], 1, run_axis)
      ratios[name].append(reference / library)
      seconds[name].append(library)
      line.append(f"{name} {args.steps / library:,.0f} steps/s ({ratios[name][-1]:.2f}x)")
    print("; ".join(line))
  one_run = args.steps / sorted(seconds["default"])[args.repeats // 2]
  for name, values in ratios.items():
    print(f"one run ({name}) over the yardstick: median {sorted(values)[len(values) // 2]:.2f}x "
          f"(range {min(values):.2f}-{max(values):.2f})")

  grid = [base.replace(amplitude=1.0 + 10 * i, seed=i) for i in range(args.grid)]
  seconds = timed_grid(grid, args.grid)
  print(f"vmapped grid of {args.grid}: {args.grid * args.steps / seconds:,.0f} run-steps/s "
        f"({seconds:.2f} s)")

  loop = python_loop_steps_per_second(args.width, args.loop_steps, DTYPES[args.dtype])
  print(f"python loop of jitted steps: {loop:,.0f} steps/s; scan speed-up {one_run / loop:.1f}x")


if __name__ == "__main__":
  main()
