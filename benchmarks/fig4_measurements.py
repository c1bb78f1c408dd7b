"""Cost of the Fig. 4 computation with in-loop landscape measurements.

Times (1) the whole Fig. 4 run (70,000 steps, an order-10 Lanczos of the
dynamical loss's Hessian every 25 steps, the NTK lambda_max of the first 50
points every step) compiled as one scan, (2) the same run without measurements,
and (3) over a shorter run, a Python loop of jitted GD steps with separate
jitted eigen-solves (the reference's structure); it prints the per-step times
and their ratios. The reference needed about an hour on a Colab GPU.

  python benchmarks/fig4_measurements.py [--steps 70000] [--loop-steps 2000]
"""

from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "book"))  # the book's code

import jax  # noqa: E402

jax.config.update("jax_enable_x64", True)  # float64, as in the paper
import jax.numpy as jnp  # noqa: E402

from dynloss_lib import analysis, data, losses, models, schedules  # noqa: E402
from dynloss_book import landscape as le  # noqa: E402
from dynloss_lib.experiments import run_spiral  # noqa: E402


def python_loop(steps: int, measurements: le.Measurements) -> float:
  """Seconds for ``steps`` of a Python loop of jitted steps and separate eigen-solves."""
  config = le.FIG4
  x, y = data.spiral()
  x, y = jnp.asarray(x), jnp.asarray(y)
  module = models.mlp(config.width)
  params = module.init(jax.random.PRNGKey(0), jnp.zeros((1, 2)))
  schedule = schedules.triangle(config.amplitude, config.period, 3,
                                static_from=config.static_from)
  loss = lambda p, g: losses.dynamical_cross_entropy(module.apply(p, x), y, g)
  step = jax.jit(lambda p, g: jax.tree_util.tree_map(
      lambda a, b: a - config.learning_rate * b, p, jax.grad(loss)(p, g)))
  loss_value = jax.jit(loss)
  hessian = jax.jit(lambda p, g: analysis.hessian_top_eigenvalues(
      lambda q: loss(q, g), p, order=measurements.hessian_order)[0])
  ntk = jax.jit(lambda p: analysis.ntk_top_eigenvalue(module.apply, p, x[:measurements.ntk_points]))
  gamma = schedule(0)
  jax.block_until_ready((step(params, gamma), hessian(params, gamma), ntk(params),
                         loss_value(params, gamma)))  # compile outside the timing
  start = time.perf_counter()
  for t in range(steps):
    gamma = schedule(t)
    float(loss_value(params, gamma))
    float(ntk(params))
    if t % measurements.hessian_every == 0:
      float(hessian(params, gamma))
    params = step(params, gamma)
  jax.block_until_ready(params)
  return time.perf_counter() - start


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--steps", type=int, default=le.FIG4.steps)
  parser.add_argument("--loop-steps", type=int, default=2000)
  args = parser.parse_args(argv)
  measurements = le.Measurements()
  config = le.FIG4.replace(steps=args.steps)
  start = time.perf_counter()
  run_spiral(config, progress=False)
  plain = time.perf_counter() - start
  _, measured = le.run_measured(config, measurements, progress=False, measure="loop")
  _, after = le.run_measured(config, measurements, progress=False, measure="after")
  loop = python_loop(args.loop_steps, measurements)
  per_step = {"plain scan": plain / args.steps, "measured scan": measured / args.steps,
              "measured after": after / args.steps, "python loop": loop / args.loop_steps}
  print(f"backend: {jax.default_backend()}, {os.cpu_count()} CPU cores; compile times included "
        "in the scans, not in the loop")
  print(f"Fig. 4 run, {args.steps} steps: plain scan {plain:.1f} s, with measurements in the "
        f"loop {measured:.1f} s ({measured / plain:.2f} x plain), after it {after:.1f} s "
        f"({after / plain:.2f} x plain; {le.default_measure()!r} is this backend's default)")
  for name, seconds in per_step.items():
    print(f"  {name:>14}: {1e6 * seconds:8.1f} us/step")
  print(f"python loop of jitted steps + separate eigen-solves ({args.loop_steps} steps) / "
        f"measured scan: {per_step['python loop'] / per_step['measured scan']:.2f} x per step; "
        f"extrapolated to {args.steps} steps: {per_step['python loop'] * args.steps:.0f} s")
  return 0


if __name__ == "__main__":
  sys.exit(main())
