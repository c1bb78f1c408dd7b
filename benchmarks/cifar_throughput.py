"""Training throughput of Myrtle5 (or a Wide ResNet) on CIFAR-10-shaped data, in images/s.

Times the library's jitted per-epoch scan (:class:`dynloss_lib.minibatch.Trainer`)
on random uint8 images, with augmentation and the dynamical loss, after one
compiling epoch. On one H100 the target for Myrtle5-64 in float32 is at least
200,000 images/s (a 50,000-image epoch well under a second)::

  python benchmarks/cifar_throughput.py                       # Myrtle5-64, float32
  python benchmarks/cifar_throughput.py --dtype bfloat16
  python benchmarks/cifar_throughput.py --width 16 --images 5120 --batch-size 128  # CPU
"""

from __future__ import annotations

import argparse
import time

import jax

jax.config.update("jax_enable_x64", True)  # as the book runs it (the CIFAR code pins float32 itself)
import numpy as np

from dynloss_lib import convnets, minibatch


def measure(config: minibatch.CifarConfig, images: int, epochs: int, loop=None) -> dict:
  """Time ``epochs`` epochs of one run of ``config`` on ``images`` random images, after a
  compiling one: ``{"images_per_s" (best epoch), "epoch_seconds", "compile_seconds", "loop"}``."""
  trainer = minibatch.Trainer(config.replace(epochs=epochs + 1), images, loop)
  rng = np.random.default_rng(0)
  x = jax.device_put(rng.integers(0, 256, (images, 32, 32, 3), dtype=np.uint8))
  y = jax.device_put(rng.integers(0, 10, images).astype(np.int32))
  state = trainer.init_state()
  start = time.perf_counter()
  state, metrics = trainer.epoch_fn(state, trainer.epoch_key(0), x, y)
  jax.block_until_ready(metrics)
  compile_seconds = time.perf_counter() - start
  times = []
  for epoch in range(1, epochs + 1):
    start = time.perf_counter()
    state, metrics = trainer.epoch_fn(state, trainer.epoch_key(epoch), x, y)
    jax.block_until_ready(metrics)
    times.append(time.perf_counter() - start)
  trained = trainer.steps_per_epoch * config.batch_size
  return {"images_per_s": trained / min(times), "epoch_seconds": times,
          "compile_seconds": compile_seconds, "loop": trainer.loop,
          "images_per_epoch": trained}


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--model", choices=sorted(convnets.MODELS), default="myrtle5")
  parser.add_argument("--width", type=int, default=64, help="Myrtle5 channels (default 64)")
  parser.add_argument("--depth", type=int, default=16, help="WRN depth (default 16)")
  parser.add_argument("--widen-factor", type=int, default=4, help="WRN k (default 4)")
  parser.add_argument("--batch-size", type=int, default=512)
  parser.add_argument("--images", type=int, default=None,
                      help="images per timed epoch (default 50,000 on a GPU, 2,048 on a CPU)")
  parser.add_argument("--epochs", type=int, default=3, help="timed epochs (default 3)")
  parser.add_argument("--dtype", choices=["float32", "bfloat16"], default="float32")
  parser.add_argument("--amplitude", type=float, default=10.0)
  parser.add_argument("--json", action="store_true",
                      help="print one JSON line (images/s, the setting, the machine)")
  parser.add_argument("--loop", choices=["scan", "python"], default=None,
                      help="one jitted scan per epoch, or a Python loop of jitted steps "
                           "(default: python on a CPU, scan elsewhere)")
  args = parser.parse_args(argv)
  images = args.images or (2_048 if jax.default_backend() == "cpu" else 50_000)
  config = minibatch.CifarConfig(model=args.model, width=args.width, depth=args.depth,
                                 widen_factor=args.widen_factor, batch_size=args.batch_size,
                                 dtype=args.dtype, amplitude=args.amplitude, period=100)
  result = measure(config, images, args.epochs, args.loop)
  times, trained = result["epoch_seconds"], result["images_per_epoch"]
  best, compile_seconds = min(times), result["compile_seconds"]
  name = f"myrtle5-{args.width}" if args.model == "myrtle5" else \
      f"wrn-{args.depth}-{args.widen_factor}"
  if args.json:
    import json
    from dynloss_lib import provenance
    print(json.dumps({"model": name, "dtype": args.dtype, "batch_size": args.batch_size,
                      "loop": result["loop"], "images_per_s": trained / best,
                      "epoch_seconds": times, "environment": provenance.environment()}))
    return
  print(f"device: {jax.devices()[0].device_kind} ({jax.default_backend()})")
  print(f"model {name}, {args.dtype}, batch {args.batch_size}, {trained} images per epoch, "
        f"{result['loop']} loop")
  print(f"first epoch (with compilation): {compile_seconds:.2f} s")
  print(f"epoch times: {', '.join(f'{t:.3f}' for t in times)} s")
  print(f"throughput: {trained / best:,.0f} images/s (best epoch); "
        f"a 50,000-image epoch takes {50_000 / (trained / best):.2f} s")


if __name__ == "__main__":
  main()
