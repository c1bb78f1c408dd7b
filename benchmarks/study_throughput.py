"""How busy a CIFAR-10 study keeps the device: a whole study's images/s against training alone.

A study of ``--runs`` runs (static and dynamical, one seed each) of Myrtle5-64 on random
images of the subset's size is trained and stored by the book's runner
(:func:`dynloss_book.cifar_runs.run_configs`: data to the device, the runs, their
evaluations, the stored files), after a first study of the same shapes that compiles. The
yardstick, in the same process: :func:`cifar_throughput.measure`, one run's jitted epochs on
the same images at the same batch size, nothing else. Printed: the study's images/s over its
wall time, the yardstick's, and their ratio as wall time over training compute (the target on
a GPU: at most 1.5)::

  python benchmarks/study_throughput.py                    # a GPU: 16 runs of 15 epochs
  python benchmarks/study_throughput.py --runs 2 --epochs 1 --width 4 --json   # a CPU
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import jax

jax.config.update("jax_enable_x64", True)  # as the book runs it
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "book"))
from cifar_throughput import measure  # noqa: E402
from dynloss_lib import cifar, minibatch, provenance  # noqa: E402
from dynloss_book import cifar_runs  # noqa: E402


def study(configs, data, engine):
  """Train and store ``configs`` into a fresh folder: the wall time in seconds."""
  with tempfile.TemporaryDirectory() as folder:
    start = time.perf_counter()
    cifar_runs.run_configs(configs, lambda: data, {"name": "random", "md5": "-"}, folder,
                           engine=engine, progress=False)
    return time.perf_counter() - start


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--runs", type=int, default=16, help="runs in the study (default 16)")
  parser.add_argument("--epochs", type=int, default=15)
  parser.add_argument("--width", type=int, default=64)
  parser.add_argument("--batch-size", type=int, default=128)
  parser.add_argument("--train-images", type=int, default=5085)
  parser.add_argument("--test-images", type=int, default=1017)
  parser.add_argument("--engine", choices=cifar_runs.ENGINES, default=None,
                      help="default: many on a GPU, one on a CPU")
  parser.add_argument("--json", action="store_true", help="one JSON line")
  args = parser.parse_args(argv)
  engine = args.engine or cifar_runs.default_engine()
  rng = np.random.default_rng(0)
  data = cifar.CifarData(
      rng.integers(0, 256, (args.train_images, 32, 32, 3), np.uint8),
      rng.integers(0, 10, args.train_images).astype(np.int32),
      rng.integers(0, 256, (args.test_images, 32, 32, 3), np.uint8),
      rng.integers(0, 10, args.test_images).astype(np.int32))
  base = minibatch.CifarConfig(width=args.width, batch_size=args.batch_size, epochs=args.epochs,
                               learning_rate=0.05, period=38)
  configs = lambda first: [base.replace(seed=first + i, amplitude=1.0 if i % 2 else 2.0)
                           for i in range(args.runs)]
  compile_study = study(configs(0), data, engine)  # compiles (and is timed, for the record)
  wall = study(configs(1000), data, engine)
  yardstick = measure(base, args.train_images, epochs=3, loop=None if engine == "one" else "scan")
  trained = args.runs * args.epochs * yardstick["images_per_epoch"]
  result = {"engine": engine, "runs": args.runs, "epochs": args.epochs,
            "images_trained": trained, "study_seconds": wall,
            "first_study_seconds": compile_study,
            "study_images_per_s": trained / wall,
            "yardstick_images_per_s": yardstick["images_per_s"],
            "wall_over_training_compute": wall / (trained / yardstick["images_per_s"]),
            "environment": provenance.environment()}
  if args.json:
    print(json.dumps(result))
    return
  print(f"device: {jax.devices()[0].device_kind} ({jax.default_backend()}), engine {engine}")
  print(f"study: {args.runs} runs x {args.epochs} epochs, {trained:,} images trained in "
        f"{wall:.2f} s (the first, compiling study: {compile_study:.2f} s)")
  print(f"study {result['study_images_per_s']:,.0f} images/s; yardstick (one run's epochs "
        f"alone) {yardstick['images_per_s']:,.0f} images/s")
  print(f"wall time over training compute: {result['wall_over_training_compute']:.2f}x "
        f"(target on a GPU: at most 1.5x)")


if __name__ == "__main__":
  main()
