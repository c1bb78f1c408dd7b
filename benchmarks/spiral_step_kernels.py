"""Kernels in one compiled spiral step: the library's loop against the yardstick's.

On a GPU a step of the width-100 spiral costs kernel launches more than arithmetic, so every
operation that XLA cannot fuse into another shows. This compiles one run of the library
(with the run axis, as a pinned CPU compiles a lone run, and without it, as others do) and
the minimal ``lax.scan`` yardstick of ``benchmarks/spiral_throughput.py``, reads the programs
that XLA optimised (``--xla_dump_to``) and counts the instructions of each loop's body that
launch work (fusions, dots, copies, custom calls; not the free ones: parameters, tuples,
constants, bitcasts)::

  python benchmarks/spiral_step_kernels.py [--width 100]

The step counted is the one a chunk runs first, its recorded steps unchecked (the fully checked
program runs a chunk again only when a run blew up in it). The counts are this backend's; a GPU
fuses differently, so run it there for that figure.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import sys
import tempfile
from pathlib import Path

DUMP = tempfile.mkdtemp(prefix="spiral_step_kernels_")
# Only the programs with a training loop: the yardstick's jitted lambda, the library's chunk
# (``advance``, or ``lone`` without the run axis).
os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + f" --xla_dump_to={DUMP} "
                           "--xla_dump_hlo_as_text --xla_dump_hlo_module_re=.*(lambda|advance|lone).*"
                           ).strip()

import jax  # noqa: E402  (XLA reads its flags when JAX starts)

jax.config.update("jax_enable_x64", True)  # float64, as in the paper

from dynloss_lib.experiments import SpiralConfig, run_spiral  # noqa: E402

FREE = re.compile(r"= \S+ (get-tuple-element|parameter|tuple|constant|bitcast)\(")


def loop_kernels(hlo: str) -> int:
  """Instructions that launch work in the body of the program's (first) while loop."""
  body = re.search(r"while\(.*?body=%?([\w.\-]+)", hlo).group(1)
  start = hlo.index(f"\n%{body} ")
  lines = hlo[start:hlo.index("\n}\n", start)].splitlines()[2:]
  return sum(1 for line in lines if not FREE.search(line) and "ROOT" not in line)


def programs_since(seen: set[str]) -> list[str]:
  """The optimised programs XLA dumped since ``seen`` (their names are added to it)."""
  found = sorted(set(p.name for p in Path(DUMP).glob("*after_optimizations.txt")) - seen)
  seen.update(found)
  return [(Path(DUMP) / name).read_text() for name in found]


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--width", type=int, default=100)
  args = parser.parse_args(argv)
  sys.path.insert(0, str(Path(__file__).parent))
  from spiral_step_costs import variant
  seen: set[str] = set()
  config = SpiralConfig(width=args.width, steps=200, record_every=1)
  counts = {}
  variant(200, args.width)  # the yardstick, compiled
  counts["yardstick"] = [loop_kernels(t) for t in programs_since(seen) if "while(" in t]
  for name, run_axis in (("library, run axis", True), ("library, no run axis", False)):
    run_spiral(config, progress=False, run_axis=run_axis)
    counts[name] = [loop_kernels(t) for t in programs_since(seen) if "while(" in t]
  print(f"backend {jax.default_backend()}, width {args.width}, float64, loss and accuracy "
        "recorded every step (the library also records the static loss and Gamma)")
  for name, found in counts.items():
    if len(found) != 1:
      raise RuntimeError(f"expected one compiled loop for {name}, found {len(found)}")
    print(f"{name:>21}: {found[0]} kernels in the loop's body")
  shutil.rmtree(DUMP, ignore_errors=True)


if __name__ == "__main__":
  main()
