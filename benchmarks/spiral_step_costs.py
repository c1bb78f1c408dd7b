"""What a spiral step costs beyond the minimal scan: the yardstick with one feature added at a time.

The library's one run is slower than the minimal ``lax.scan`` of the same GD step
(``benchmarks/spiral_throughput.py``). This times the yardstick alone and with each thing the
library's step does beyond it, one at a time and all together, alternated in one process:

* ``static loss``: the static cross-entropy recorded beside F;
* ``finite check``: the divergence check (loss and gradients finite, else no update);
* ``gamma``: the class weights recorded;
* ``vmap``: the run axis of size 1 (on a CPU pinned to an instruction set the engine vmaps a lone
  run too, as every stored run was computed);

and checks whether a variant computes the yardstick's trajectory bit for bit (the vmap does
not: XLA computes a batched product in another order, so removing it from the book's pinned
runs would change every stored trajectory), and which gradients of one step the run axis rounds
differently::

  python benchmarks/spiral_step_costs.py [--steps 20000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import time

import jax

jax.config.update("jax_enable_x64", True)  # float64, as in the paper
import jax.numpy as jnp
import numpy as np

from dynloss_lib import data, models, schedules
from dynloss_lib.losses import dynamical_cross_entropy

FEATURES = ("static loss", "finite check", "gamma", "vmap")


def variant(steps: int, width: int, features: frozenset = frozenset(), dtype=jnp.float64):
  """``(timer, losses)``: a timer of the yardstick with ``features`` added (compiled on the
  first call, which this makes), and its losses. No features: the yardstick itself."""
  x, y = data.spiral()
  x = jnp.asarray(x, dtype)
  module = models.mlp(width, dtype=dtype)
  params = module.init(jax.random.PRNGKey(0), x[:1])
  static_from = schedules.last_cycle_start(steps, 5000)

  def step(params, t):
    gamma = schedules.periodic_weights(t, 70.0, 5000, 3, static_from=static_from)

    def loss_fn(p):
      logits = module.apply(p, x)
      return dynamical_cross_entropy(logits, y, gamma), logits
    (loss, logits), grads = jax.value_and_grad(loss_fn, has_aux=True)(params)
    recorded = [loss, jnp.mean(jnp.argmax(logits, -1) == y)]
    if "static loss" in features:
      recorded.append(dynamical_cross_entropy(logits, y, jnp.ones(3, dtype)))
    if "gamma" in features:
      recorded.append(gamma)
    new = jax.tree_util.tree_map(lambda p, g: p - g, params, grads)
    if "finite check" in features:
      finite = jnp.isfinite(loss) & jnp.all(jnp.stack(
          [jnp.all(jnp.isfinite(g)) for g in jax.tree_util.tree_leaves(grads)]))
      new = jax.tree_util.tree_map(lambda n, p: jnp.where(finite, n, p), new, params)
    return new, tuple(recorded)

  run = lambda p: jax.lax.scan(step, p, jnp.arange(steps))
  if "vmap" in features:
    compiled = jax.jit(jax.vmap(run))
    argument = jax.tree_util.tree_map(lambda a: a[None], params)
    losses = lambda out: np.asarray(out[1][0])[0]
  else:
    compiled, argument = jax.jit(run), params
    losses = lambda out: np.asarray(out[1][0])
  first = losses(jax.block_until_ready(compiled(argument)))  # compiles

  def timer():
    start = time.perf_counter()
    jax.block_until_ready(compiled(argument))
    return time.perf_counter() - start
  return timer, first


def gradients_the_run_axis_changes(width: int, dtype=jnp.float64) -> dict[str, bool]:
  """Parameter name -> whether one step's gradient differs, bit for bit, between the program
  with a run axis of size 1 and the one without (the same parameters, data and Gamma)."""
  x, y = data.spiral()
  x = jnp.asarray(x, dtype)
  module = models.mlp(width, dtype=dtype)
  params = module.init(jax.random.PRNGKey(0), x[:1])
  gamma = schedules.triangle(70.0, 5000, 3)(1234)
  grad = jax.grad(lambda p: dynamical_cross_entropy(module.apply(p, x), y, gamma))
  plain = jax.jit(grad)(params)
  batched = jax.jit(jax.vmap(grad))(jax.tree_util.tree_map(lambda a: a[None], params))
  changed = jax.tree_util.tree_map(lambda a, b: not np.array_equal(a, b[0]), plain, batched)
  return {"/".join(str(getattr(k, "key", k)) for k in path[1:]): value
          for path, value in jax.tree_util.tree_leaves_with_path(changed)}


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--steps", type=int, default=20_000)
  parser.add_argument("--width", type=int, default=100)
  parser.add_argument("--repeats", type=int, default=3)
  args = parser.parse_args(argv)
  variants = {"yardstick": frozenset()}
  variants.update({f"+ {name}": frozenset({name}) for name in FEATURES})
  variants["all four"] = frozenset(FEATURES)
  built = {name: variant(args.steps, args.width, features) for name, features in variants.items()}
  seconds = {name: [] for name in variants}
  for _ in range(args.repeats):  # alternated, so that every variant sees the same machine
    for name, (timer, _) in built.items():
      seconds[name].append(timer())
  base = np.median(seconds["yardstick"])
  print(f"backend {jax.default_backend()}, width {args.width}, float64, {args.steps} steps, "
        f"median of {args.repeats}")
  reference = built["yardstick"][1]
  for name, values in seconds.items():
    same = np.array_equal(built[name][1], reference)
    print(f"{name:>16}: {np.median(values):.3f} s, {base / np.median(values):.2f}x the "
          f"yardstick's speed; the yardstick's trajectory bit for bit: {'yes' if same else 'no'}")
  changed = gradients_the_run_axis_changes(args.width)
  print("one step's gradients that the run axis rounds differently: "
        + ", ".join(name for name, differs in changed.items() if differs)
        + "; the same bit for bit: " + ", ".join(n for n, d in changed.items() if not d))


if __name__ == "__main__":
  main()
