"""The CPU pin that makes float64 trajectories reproducible across x86 CPUs.

XLA reads ``XLA_FLAGS`` once per process, so every check runs in a fresh
interpreter. The cross-machine check compares a run of this machine, limited
to AVX2, with the same run recorded on another machine (a 2-core AMD EPYC
without AVX-512, ``benchmarks/results/spiral_width100_seeds0-6.jsonl``).
"""

import json
import os
import platform
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
RECORD = ROOT / "benchmarks" / "results" / "spiral_width100_seeds0-6.jsonl"
X86 = platform.machine().lower() in ("x86_64", "amd64")


def _cpu_flags() -> set[str]:
  try:
    for line in open("/proc/cpuinfo"):
      if line.startswith("flags"):
        return set(line.split(":", 1)[1].split())
  except OSError:
    pass
  return set()


def _python(code: str, *args: str, xla_flags: str | None = None) -> str:
  env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
  if xla_flags is not None:
    env["XLA_FLAGS"] = xla_flags
  out = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                       env=env, cwd=ROOT, timeout=600)
  assert out.returncode == 0, out.stderr[-2000:]
  return out.stdout.strip()


RUN = r"""
import sys
import jax
jax.config.update("jax_enable_x64", True)
from dynloss_lib import provenance
provenance.pin_cpu_isa(None if sys.argv[1] == "native" else sys.argv[1])
from dynloss_lib.experiments import SpiralConfig, run_spiral
config = SpiralConfig(width=100, amplitude=float(sys.argv[2]), period=5000,
                      steps=int(sys.argv[3]), last_cycle_static=True, record_every=70,
                      seed=int(sys.argv[4]))
print(repr(float(run_spiral(config, progress=False).final["loss"])))
"""


@pytest.mark.skipif(not X86, reason="the pin applies to x86 CPUs only")
def test_pin_adds_the_flag_and_keeps_other_flags():
  code = ("import os\nfrom dynloss_lib import provenance\n"
          "print(provenance.pin_cpu_isa(), os.environ['XLA_FLAGS'])")
  assert _python(code, xla_flags="--xla_cpu_enable_fast_math=false") == (
      "AVX2 --xla_cpu_enable_fast_math=false --xla_cpu_max_isa=AVX2")


def test_pin_after_the_backend_started_is_an_error():
  code = ("import jax\nfrom dynloss_lib import provenance\njax.numpy.ones(1).block_until_ready()\n"
          "try:\n  provenance.pin_cpu_isa()\nexcept RuntimeError as error:\n  print(error)\n")
  out = _python(code, xla_flags="")
  if X86:
    assert "must run before JAX's first computation" in out
    assert "XLA_FLAGS=--xla_cpu_max_isa=AVX2" in out


def test_pin_respects_the_same_flag_and_refuses_another():
  code = ("from dynloss_lib import provenance\nprint(provenance.pin_cpu_isa('AVX2'))\n"
          "try:\n  provenance.pin_cpu_isa('AVX')\nexcept ValueError as error:\n  print(error)\n")
  assert _python(code, xla_flags="--xla_cpu_max_isa=AVX2").splitlines() == [
      "AVX2", "XLA_FLAGS already sets --xla_cpu_max_isa=AVX2, got isa='AVX'; unset that flag "
      "or ask for the same one"]


@pytest.mark.skipif(not (X86 and "avx512f" in _cpu_flags()), reason="needs a CPU with AVX-512")
def test_pin_changes_the_trajectory_on_an_avx512_cpu():
  # 3,000 steps already separate the two instruction sets in the last bits of the loss: the
  # pin is in effect (a pin that XLA ignored would leave the native value).
  native = _python(RUN, "native", "1", "3000", "0")
  pinned = _python(RUN, "AVX2", "1", "3000", "0")
  assert native != pinned


@pytest.mark.skipif(not (X86 and "avx2" in _cpu_flags() and os.cpu_count() == 2),
                    reason="the record was made on a 2-core x86 CPU with AVX2; the core count "
                           "also decides the trajectory")
def test_pinned_run_matches_the_record_of_another_machine():
  # The README's run (width 100, static loss, seed 0, 70,000 steps): chaotic, so only an
  # identical computation ends at the same float64 loss.
  record = [json.loads(line) for line in RECORD.read_text().splitlines()]
  static0 = next(r for r in record if r["config"]["amplitude"] == 1.0 and r["config"]["seed"] == 0)
  assert "avx512f" not in static0["environment"]["cpu_vector_flags"]
  assert static0["config"]["record_every"] == 70 and static0["config"]["steps"] == 70_000
  assert _python(RUN, "AVX2", "1", "70000", "0") == repr(static0["loss"])


STORED = ROOT / "book" / "results" / "spiral-00ddcd191ae1053c.npz"

RECOMPUTE_STORED = r"""
import json, sys
import numpy as np
from dynloss_lib import provenance
provenance.pin_cpu_isa("AVX2")
import jax
jax.config.update("jax_enable_x64", True)
from dynloss_lib.experiments import SpiralConfig, run_spiral
stored = np.load(sys.argv[1], allow_pickle=True)
run = run_spiral(SpiralConfig(**json.loads(str(stored["__meta__"]))["config"]["run"]),
                 progress=False)
print(all(np.array_equal(run.history[name], stored[f"history/{name}"])
          for name in ("loss", "static_loss", "train_accuracy", "val_accuracy")),
      all(np.array_equal(run.params["params"][layer][name],
                         stored[f"arrays/params/params/{layer}/{name}"])
          for layer in ("Dense_0", "Dense_1") for name in ("kernel", "bias")))
"""


@pytest.mark.skipif(not (X86 and "avx2" in _cpu_flags() and os.cpu_count() == 2),
                    reason="the stored run was made on a 2-core x86 CPU with AVX2")
def test_a_stored_run_of_the_book_is_recomputed_bit_for_bit():
  # A width-300 run of the dynamical-MSE study (70,000 steps), stored from a Zen 4 with the
  # run axis split over two devices: a lone run here computes its every recorded value and its
  # final parameters bit for bit, so the engine's changes around the step left its arithmetic.
  meta = json.loads(str(np.load(STORED, allow_pickle=True)["__meta__"]))
  assert meta["config"]["run"]["width"] == 300 and meta["environment"]["devices"] == 2
  assert _python(RECOMPUTE_STORED, str(STORED)) == "True True"


UNPINNED_RECORD = ROOT / "benchmarks" / "results" / "spiral_width100_seeds0-6_unrecorded_machine.jsonl"

RUN_WITH_AXIS = r"""
import json, sys
import jax
jax.config.update("jax_enable_x64", True)
from dynloss_lib.experiments import SpiralConfig, run_spiral
config = SpiralConfig(**json.loads(sys.argv[1]))
print(repr(float(run_spiral(config, progress=False, run_axis=True).final["loss"])))
"""


def _amd_with_avx512_and_two_cores() -> bool:
  try:
    vendor = next(line for line in open("/proc/cpuinfo") if line.startswith("vendor_id"))
  except (OSError, StopIteration):
    return False
  return "AuthenticAMD" in vendor and "avx512f" in _cpu_flags() and os.cpu_count() == 2


@pytest.mark.skipif(not (X86 and _amd_with_avx512_and_two_cores()),
                    reason="the record was printed unpinned by a 2-core AVX-512 AMD EPYC")
def test_an_unpinned_run_with_the_run_axis_matches_the_unpinned_record():
  # The record's static seed 0 (70,000 steps), printed before a lone unpinned run dropped the
  # run axis by default: with XLA free to use AVX-512 and the axis asked for, the same float64
  # loss (2-core AMD EPYC Zen 4 and Zen 5).
  record = [json.loads(line) for line in UNPINNED_RECORD.read_text().splitlines()]
  static0 = next(r for r in record if r["config"]["amplitude"] == 1.0 and r["config"]["seed"] == 0)
  assert _python(RUN_WITH_AXIS, json.dumps(static0["config"])) == repr(static0["loss"])
