"""The prepared GPU run: everything the book wants from one GPU, once, under one output folder.

Usage (from the repository root)::

  python scripts/gpu_run.py --out gpu-out --data .gpu-data/cifar10_subset.npz   # on the GPU
  python scripts/gpu_run.py --out /tmp/dry --toy                                # CPU dry run

Parts, in order of what the book needs most (each writes ``OUT/NAME.json`` and a line of
``OUT/log.txt``; a part that fails is logged with its error and the next one runs; a part whose
estimated time no longer fits in ``--budget`` seconds is skipped, and says so). With the default
budget of one 8-minute call, the first two run; ``--skip gpu_tests,cifar_fit`` in a second,
short call runs the measurements after them:

1. ``gpu_tests``: the GPU-marked tests (``tests/test_gpu.py``) at full size; pytest's whole
   output is kept in ``OUT/gpu_tests.txt``, passed or failed.
2. ``cifar_fit``: the fitting-regime study (:mod:`dynloss_book.cifar_fit`: the design its
   stored pilots decide), trained with the ``"many"`` engine and stored under
   ``OUT/results`` with each run's environment (estimated at about 6.6 minutes).
3. ``cifar_throughput``: Myrtle5-64 images/s in float32 and in bfloat16 (target 200,000).
4. ``study_throughput``: a 16-run study trained and stored by the book's runner, against one
   run's training alone (``benchmarks/study_throughput.py``; target: wall time at most 1.5x
   the training compute).
5. ``spiral_one_run``: one float64 width-100 run of 70,000 steps, alternated three times with
   the minimal ``lax.scan`` yardstick of ``benchmarks/spiral_throughput.py`` (target: at least
   the yardstick's speed), the library's lone run timed as compiled there (without the run
   axis) and with it (the CPU's program), and the kernels of each one's compiled step
   (``benchmarks/spiral_step_kernels.py``).
6. ``fig4_measured``: the Fig. 4 run with its measurements, against its plain run (target: at
   most 2x).
7. ``spiral_grid_512``, ``spiral_grid_300``, ``myrtle5_64_gpu``: vmapped spiral grids (targets
   met on the first H200) and the rest of the H200 study's WRN pairs, when time is left.

Checkpoints go to a scratch folder outside ``OUT``, which stays small (results and logs).

``--toy`` runs the same parts at toy sizes on any machine (the test command does, so the script
cannot rot unseen): the GPU machine has no ``../shared`` and no internet, so everything it needs
travels in the checkout; ``--data`` names the subset (copy it into an ignored folder first).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "book"))  # the book's code

SIZES = {
    "full": dict(steps=70_000, grid=512, sweep=(10, 10, 3), fig4_steps=70_000,
                 images=50_000, batch=512, width=100),
    "toy": dict(steps=300, grid=4, sweep=(2, 2, 1), fig4_steps=200, images=64, batch=32,
                width=8),
}


def spiral_one_run(size):
  sys.path.insert(0, str(ROOT / "benchmarks"))
  from spiral_throughput import timed_grid, yardstick
  from dynloss_lib.experiments import DTYPES, SpiralConfig
  config = SpiralConfig(width=size["width"], steps=size["steps"], last_cycle_static=True)
  minimal = yardstick(config.width, config.steps, DTYPES[config.dtype])
  library, with_axis, reference = [], [], []
  for _ in range(3):  # alternated, so that all see the same machine state
    library.append(timed_grid([config], 1))  # the default: a lone run without the run axis
    with_axis.append(timed_grid([config], 1, run_axis=True))  # a pinned CPU's default
    reference.append(minimal())
  ratios = [r / l for l, r in zip(library, reference)]
  kernels = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "spiral_step_kernels.py"),
                            "--width", str(config.width)], capture_output=True, text=True,
                           check=True).stdout  # XLA reads its dump flags in a fresh process
  return {"steps": config.steps, "library_seconds": library, "yardstick_seconds": reference,
          "kernels_in_the_step": kernels,
          "run_axis_seconds": with_axis,
          "steps_per_s": config.steps / min(library),
          "yardstick_steps_per_s": config.steps / min(reference),
          "library_over_yardstick_speed": ratios,
          "run_axis_over_yardstick_speed": [r / w for w, r in zip(with_axis, reference)],
          "target_steps_per_s": 25_000,
          "target_ratio": 1.0}


def _grid(configs, batch_size):
  from dynloss_lib.experiments import run_spiral_grid
  run_spiral_grid(configs[:batch_size], batch_size=batch_size, progress=False,
                  keep_params=False)  # compile
  start = time.perf_counter()
  runs = run_spiral_grid(configs, batch_size=batch_size, progress=False, keep_params=False)
  return runs, time.perf_counter() - start


def spiral_grid_512(size):
  from dynloss_lib.experiments import SpiralConfig
  configs = [SpiralConfig(width=size["width"], steps=size["steps"], dtype="float32",
                          amplitude=1.0 + i % 64, seed=i, last_cycle_static=True,
                          record_every=100) for i in range(size["grid"])]
  runs, seconds = _grid(configs, len(configs))
  return {"runs": len(runs), "seconds": seconds,
          "run_steps_per_s": len(runs) * size["steps"] / seconds,
          "target_run_steps_per_s": 1_000_000,
          "diverged": sum(r.diverged for r in runs)}


def spiral_grid_300(size):
  import numpy as np
  from dynloss_lib.experiments import SpiralConfig
  amplitudes, periods, seeds = size["sweep"]
  configs = [SpiralConfig(width=size["width"], steps=size["steps"], amplitude=float(a),
                          period=int(t), seed=s, last_cycle_static=True, record_every=500)
             for a in np.geomspace(2, 100, amplitudes) for t in np.geomspace(250, 5000, periods)
             .astype(int) for s in range(seeds)]
  runs, seconds = _grid(configs, len(configs))
  return {"runs": len(runs), "seconds": seconds, "target_seconds": 60,
          "median_train_accuracy": float(np.median([r.final["train_accuracy"] for r in runs]))}


def fig4_measured(size):
  from dynloss_lib.experiments import run_spiral
  from dynloss_book import landscape
  config = landscape.FIG4.replace(steps=size["fig4_steps"], width=size["width"])
  start = time.perf_counter()
  run_spiral(config, progress=False)
  plain = time.perf_counter() - start
  _, measured = landscape.run_measured(config, landscape.Measurements(), progress=False)
  return {"steps": config.steps, "plain_seconds": plain, "measured_seconds": measured,
          "ratio": measured / plain, "measure": landscape.default_measure(), "target_ratio": 2}


def cifar_throughput(size):
  out = {}
  for dtype in ("float32", "bfloat16"):
    command = [sys.executable, str(ROOT / "benchmarks" / "cifar_throughput.py"), "--dtype", dtype,
               "--images", str(size["images"]), "--batch-size", str(size["batch"])]
    if size is SIZES["toy"]:
      command += ["--width", "4", "--epochs", "1"]
    text = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    line = next(l for l in text.splitlines() if l.startswith("throughput"))
    out[dtype] = {"images_per_s": float(line.split()[1].replace(",", "")), "output": text}
  out["target_images_per_s"] = 200_000
  return out


def gpu_tests(size, out: Path):
  environment = {**os.environ, "DYNLOSS_GPU_SIZES": "toy" if size is SIZES["toy"] else "full"}
  result = subprocess.run([sys.executable, "-m", "pytest", "-v", "-o", "addopts=", "-p",
                           "no:cacheprovider", "--tb=long", str(ROOT / "tests" / "test_gpu.py")],
                          capture_output=True, text=True, cwd=ROOT, env=environment)
  (out / "gpu_tests.txt").write_text(result.stdout + result.stderr)  # kept, passed or failed
  if result.returncode:
    raise RuntimeError(f"GPU tests failed (whole output: gpu_tests.txt):\n"
                       f"{result.stdout[-3000:]}{result.stderr[-2000:]}")
  return {"output": result.stdout[-3000:]}


def study_throughput(size):
  command = [sys.executable, str(ROOT / "benchmarks" / "study_throughput.py"), "--json"]
  if size is SIZES["toy"]:
    command += ["--runs", "2", "--epochs", "1", "--width", "4", "--train-images", "256",
                "--test-images", "64"]
  text = subprocess.run(command, capture_output=True, text=True, check=True).stdout
  return {**json.loads(text.strip().splitlines()[-1]), "target_wall_over_compute": 1.5}


def _toy_study(cifar10, minibatch, **changes):
  """A study of the tiny committed slice (300 training, 100 test images), for the dry run."""
  return cifar10.Study(
      data="tiny", base=minibatch.CifarConfig(width=4, epochs=3, static_epochs=1, batch_size=20,
                                              period=2, **changes),
      cells=((3.0, 2),), screen_seeds=(100,), seeds=(110, 111), wrn=(10, 1), wrn_seeds=(110,))


def cifar_fit(size, out: Path, data, scratch: Path):
  from dynloss_lib import minibatch
  from dynloss_book import RESULTS, cifar10, cifar_fit as fit
  if size is SIZES["toy"]:
    study = _toy_study(cifar10, minibatch, train_eval_every=1)
    data = data or ROOT / "book" / "data" / cifar10.TINY_FILE
  else:
    study = fit.decided_study(RESULTS, stored_only=True)
  start = time.perf_counter()
  results = cifar10.run_study(study, out / "results", source=data, progress=False,
                              checkpoint_dir=scratch, engine="many")
  return {"seconds": time.perf_counter() - start, **_summary(cifar10, study, results)}


def _summary(cifar10, study, results):
  summary = {"cell": cifar10.chosen_cell(study, results["screen"])}
  for name, wrn in (("myrtle5", False), ("wrn", True)):
    comparison = cifar10.comparison(study, results, wrn=wrn)
    if comparison is not None:
      summary[name] = {"gain": comparison.gain.text(), "detectable": comparison.detectable,
                       "static": comparison.static.tolist(),
                       "dynamical": comparison.dynamical.tolist()}
  return summary


def myrtle5_64_gpu(size, out: Path, data, scratch: Path):
  from dynloss_lib import minibatch
  from dynloss_book import cifar10
  if size is SIZES["toy"]:
    study = _toy_study(cifar10, minibatch)
    data = data or ROOT / "book" / "data" / cifar10.TINY_FILE
  else:
    study = cifar10.STUDIES["myrtle5-64-gpu"]
  start = time.perf_counter()
  results = cifar10.run_study(study, out / "results", source=data, progress=False,
                              checkpoint_dir=scratch)
  return {"seconds": time.perf_counter() - start, **_summary(cifar10, study, results)}


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--out", required=True, help="output folder (results, log)")
  parser.add_argument("--data", default=None, help="the CIFAR-10 subset file")
  parser.add_argument("--toy", action="store_true", help="toy sizes: the CPU dry run")
  parser.add_argument("--skip", default="", help="parts not to run, comma-separated")
  parser.add_argument("--budget", type=float, default=480.0,
                      help="seconds within which the parts must fit: a part whose estimate no "
                           "longer fits is skipped (default 480, a GPU call of 8 minutes)")
  args = parser.parse_args(argv)
  import jax
  jax.config.update("jax_enable_x64", True)
  from dynloss_lib import provenance
  out = Path(args.out)
  out.mkdir(parents=True, exist_ok=True)
  size = SIZES["toy" if args.toy else "full"]
  scratch = Path(tempfile.mkdtemp(prefix="dynloss-gpu-scratch-"))  # checkpoints, not in OUT
  begin = time.perf_counter()
  # (name, estimated seconds on one H200, part): a part is skipped when its estimate no
  # longer fits in the budget
  parts = [("gpu_tests", 60, lambda: gpu_tests(size, out)),
           ("cifar_fit", 400, lambda: cifar_fit(size, out, args.data, scratch)),
           ("cifar_throughput", 40, lambda: cifar_throughput(size)),
           ("study_throughput", 40, lambda: study_throughput(size)),
           ("spiral_one_run", 45, lambda: spiral_one_run(size)),
           ("fig4_measured", 60, lambda: fig4_measured(size)),
           ("spiral_grid_512", 45, lambda: spiral_grid_512(size)),
           ("spiral_grid_300", 55, lambda: spiral_grid_300(size)),
           ("myrtle5_64_gpu", 60, lambda: myrtle5_64_gpu(size, out, args.data, scratch))]
  environment = provenance.environment()
  (out / "environment.json").write_text(json.dumps(environment, indent=1))
  failed = 0
  with open(out / "log.txt", "a") as log:
    log.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} start, {'toy' if args.toy else 'full'} "
              f"sizes, {environment['backend']} {environment['device_kind']}\n")
    for name, estimate, part in parts:
      if name in args.skip.split(","):
        log.write(f"{name}: skipped (--skip)\n")
        continue
      elapsed = time.perf_counter() - begin
      if not args.toy and elapsed + estimate > args.budget:
        log.write(f"{name}: skipped (an estimated {estimate} s after {elapsed:.0f} s would "
                  f"pass the budget of {args.budget:.0f} s)\n")
        continue
      start = time.perf_counter()
      try:
        result = part()
        status = "ok"
      except Exception:
        result, status = {"error": traceback.format_exc()}, "FAILED"
        failed += 1
      result["part_seconds"] = time.perf_counter() - start
      (out / f"{name}.json").write_text(json.dumps(result, indent=1, default=str))
      log.write(f"{name}: {status} in {result['part_seconds']:.1f} s\n")
      log.flush()
      print(f"{name}: {status} in {result['part_seconds']:.1f} s", flush=True)
  shutil.rmtree(scratch, ignore_errors=True)
  return 1 if failed else 0


if __name__ == "__main__":
  sys.exit(main())
