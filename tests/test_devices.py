"""Grids spread over several devices: same per-run results, clear errors.

JAX creates extra CPU devices only before its first computation, so each check
runs in a fresh interpreter with two host devices.
"""

import json
import subprocess
import sys
import textwrap

import pytest

from dynloss_lib import training
from dynloss_lib.experiments import SpiralConfig, run_spiral_grid

TWO_DEVICE_SCRIPT = textwrap.dedent("""
    import json, jax
    jax.config.update("jax_num_cpu_devices", 2)
    jax.config.update("jax_enable_x64", True)
    import numpy as np
    from dynloss_lib.experiments import SpiralConfig, run_spiral_grid
    # three runs (odd: the last batch is padded), two compilations (widths) interleaved
    configs = [SpiralConfig(width=w, amplitude=a, period=40, steps=400, seed=s,
                            last_cycle_static=True, record_every=50, validation=True,
                            validation_draws=2)
               for w, a, s in [(16, 1.0, 0), (8, 70.0, 1), (16, 70.0, 2), (8, 1.0, 3),
                               (16, 5.0, 4)]]
    out = {}
    for devices in (1, 2):
      runs = run_spiral_grid(configs, devices=devices, progress=False)
      out[devices] = [[r.config.seed, r.final["static_loss"], r.final["val_accuracy"],
                       r.history["loss"].tolist(),
                       np.asarray(r.params["params"]["Dense_1"]["kernel"]).tolist()]
                      for r in runs]
    print(json.dumps({"devices": len(jax.devices()), "runs": out}))
""")


def test_results_do_not_depend_on_device_count():
  out = subprocess.run([sys.executable, "-c", TWO_DEVICE_SCRIPT], capture_output=True,
                       text=True, timeout=600)
  assert out.returncode == 0, out.stderr
  result = json.loads(out.stdout.splitlines()[-1])
  assert result["devices"] == 2
  one, two = result["runs"]["1"], result["runs"]["2"]
  assert [r[0] for r in two] == [0, 1, 2, 3, 4]  # in order, padding dropped
  assert one == two  # bitwise: floats survive JSON exactly


def test_more_devices_than_exist():
  config = SpiralConfig(steps=10)
  with pytest.raises(ValueError, match="devices=3"):
    run_spiral_grid([config], devices=3, progress=False)
  with pytest.raises(ValueError, match="devices=0"):
    training.run_mesh(0)


def test_sharded_batch_must_fill_the_mesh():
  import jax.numpy as jnp
  mesh = training.run_mesh(1)
  apply_fn = lambda w, x: x @ w
  with pytest.raises(ValueError, match="batch_size=0"):
    run_spiral_grid([SpiralConfig(steps=10)], batch_size=0, progress=False)
  result = training.run_batch(apply_fn, jnp.zeros((1, 2, 2)), jnp.eye(2), jnp.array([0, 1]),
                              weights_fn=lambda step, hyper: jnp.ones(2), hyper=None,
                              learning_rates=[1.0], steps=2, mesh=mesh, progress=False)
  assert result.history["loss"].shape == (1, 2)


def test_cli_devices_option():
  run = lambda *args: subprocess.run([sys.executable, "-m", "dynloss_lib", *args],
                                     capture_output=True, text=True, timeout=600)
  out = run("spiral", "--amplitude", "1,70", "--steps", "60", "--seeds", "0", "--devices",
            "2", "--json", "--no-progress")
  assert out.returncode == 0, out.stderr
  two = [json.loads(line) for line in out.stdout.splitlines()]
  out = run("spiral", "--amplitude", "1,70", "--steps", "60", "--seeds", "0", "--json",
            "--no-progress")
  one = [json.loads(line) for line in out.stdout.splitlines()]
  assert [l["static_loss"] for l in one] == [l["static_loss"] for l in two]
  for bad, needle in (("0", "devices=0"), ("64", "devices=64")):
    out = run("spiral", "--steps", "10", "--devices", bad, "--no-progress")
    assert out.returncode == 2 and needle in out.stderr and "Traceback" not in out.stderr
