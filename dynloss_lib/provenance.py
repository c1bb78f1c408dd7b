"""What a stored result ran on, and the CPU setting that makes it reproducible.

The spiral dynamics are chaotic, so a float64 trajectory can depend on the
CPU's vector instruction set and on how many threads XLA splits work over:
the same configuration can end at a different per-seed accuracy on another
machine. Every stored run therefore records :func:`environment`, and
:func:`pin_cpu_isa` limits XLA's generated CPU code to AVX2, so that x86
machines with and without AVX-512 compute the same trajectories (measured:
an AVX-512 AMD EPYC, Zen 4, limited to AVX2 reproduces a Zen 3's runs bitwise).
"""

from __future__ import annotations

import os
import platform
import re

import jax
import jaxlib

CPU_ISA = "AVX2"
"""The x86 instruction set the book's CPU runs are limited to (every x86 CPU of the
last decade has it; AVX-512 changes the float64 trajectories)."""

CPU_ISAS = ("SSE4_2", "AVX", "AVX2", "AVX512", "AVX512_VNNI", "AVX512_BF16")
"""Values of XLA's ``--xla_cpu_max_isa`` that :func:`pin_cpu_isa` accepts."""

_ISA_FLAG = re.compile(r"--xla_cpu_max_isa=(\S+)")


def pin_cpu_isa(isa: str | None = CPU_ISA) -> str | None:
  """Limit the code XLA generates for an x86 CPU to ``isa`` (``--xla_cpu_max_isa``).

  It adds the flag to ``XLA_FLAGS``, which XLA reads when JAX starts its CPU
  backend, so call it before the first computation (the CLI does; the
  chapters call it in their first cell). ``None`` or a non-x86 machine
  leaves XLA's choice (the host's full instruction set) alone.

  Args:
    isa: one of :data:`CPU_ISAS`, or None.

  Returns:
    The instruction set in effect for the CPU backend (None: the host's own).

  Raises:
    ValueError: an unknown ``isa``, or ``XLA_FLAGS`` already asks for another one.
    RuntimeError: JAX's backends are already running without the flag.

  Examples:
    >>> pin_cpu_isa("AVX3")
    Traceback (most recent call last):
    ...
    ValueError: isa must be one of ('SSE4_2', 'AVX', 'AVX2', 'AVX512', 'AVX512_VNNI', 'AVX512_BF16') or None, got isa='AVX3'
  """
  if isa is not None and isa not in CPU_ISAS:
    raise ValueError(f"isa must be one of {CPU_ISAS} or None, got {isa=}")
  flags = os.environ.get("XLA_FLAGS", "")
  current = _ISA_FLAG.search(flags)
  if current:
    if isa is not None and current.group(1) != isa:
      raise ValueError(f"XLA_FLAGS already sets --xla_cpu_max_isa={current.group(1)}, got "
                       f"{isa=}; unset that flag or ask for the same one")
    return current.group(1)
  if isa is None or platform.machine().lower() not in ("x86_64", "amd64"):
    return None
  from jax._src import xla_bridge
  if xla_bridge.backends_are_initialized():
    raise RuntimeError(
        f"pin_cpu_isa({isa!r}) must run before JAX's first computation (its backends are "
        f"already running); restart, call it first, or start Python with "
        f"XLA_FLAGS=--xla_cpu_max_isa={isa}")
  os.environ["XLA_FLAGS"] = f"{flags} --xla_cpu_max_isa={isa}".strip()
  return isa


def cpu_model() -> str:
  """The CPU's model name (``/proc/cpuinfo`` where it exists), else ``platform.processor()``.

  Examples:
    >>> isinstance(cpu_model(), str)
    True
  """
  try:
    with open("/proc/cpuinfo") as info:
      for line in info:
        if line.startswith("model name"):
          return line.split(":", 1)[1].strip()
  except OSError:
    pass
  return platform.processor() or platform.machine()


def _cpuinfo_field(name: str) -> str:
  try:
    with open("/proc/cpuinfo") as info:
      for line in info:
        if line.split(":", 1)[0].strip() == name:
          return line.split(":", 1)[1].strip()
  except OSError:
    pass
  return ""


def _cpu_flags() -> list[str]:
  try:
    with open("/proc/cpuinfo") as info:
      for line in info:
        if line.startswith("flags"):
          flags = line.split(":", 1)[1].split()
          return sorted(f for f in flags if f.startswith(("avx", "fma", "sse4")))
  except OSError:
    pass
  return []


def environment(devices: int = 1) -> dict:
  """The software and hardware a run is computed on, JSON-ready.

  Args:
    devices: how many devices the run's grid was spread over.

  Returns:
    ``jax``, ``jaxlib``, ``backend``, ``device_kind``, ``devices``,
    ``cpu_model``, ``cpu_family_model`` (e.g. ``"25/1"``: AMD Zen 3), ``cpu_count``, ``cpu_vector_flags`` (the AVX/FMA/SSE4
    flags, which decide the code XLA generates), ``xla_flags`` and ``python``.

  Examples:
    >>> sorted(environment())[:5]
    ['backend', 'cpu_count', 'cpu_family_model', 'cpu_model', 'cpu_vector_flags']
  """
  return {
      "jax": jax.__version__, "jaxlib": jaxlib.__version__,
      "backend": jax.default_backend(), "device_kind": jax.devices()[0].device_kind,
      "devices": int(devices), "cpu_model": cpu_model(),
      "cpu_family_model": f"{_cpuinfo_field('cpu family')}/{_cpuinfo_field('model')}",
      "cpu_count": os.cpu_count(),
      "cpu_vector_flags": " ".join(_cpu_flags()), "xla_flags": os.environ.get("XLA_FLAGS", ""),
      "python": platform.python_version(),
  }


def describe(env: dict | None) -> str:
  """One line naming the machine and CPU setting a run was computed on.

  Args:
    env: a stored run's :func:`environment` (None: recorded by no one).

  Returns:
    e.g. ``"AMD EPYC, 2 cores, AVX2 (no AVX-512)"``, plus the ISA limit if one was set.

  Examples:
    >>> describe({"cpu_model": "AMD EPYC", "cpu_count": 2, "backend": "cpu",
    ...           "cpu_vector_flags": "avx avx2 avx512f fma", "xla_flags": "--xla_cpu_max_isa=AVX2"})
    'AMD EPYC, 2 cores, AVX-512, code limited to AVX2'
    >>> describe(None)
    'not recorded'
  """
  if not env:
    return "not recorded"
  vector = env.get("cpu_vector_flags", "").split()
  isa = "AVX-512" if "avx512f" in vector else "AVX2 (no AVX-512)" if "avx2" in vector else "no AVX2"
  text = f"{env.get('cpu_model', '?')}, {env.get('cpu_count', '?')} cores, {isa}"
  if env.get("backend", "cpu") != "cpu":
    text += f", {env['backend']} ({env.get('device_kind', '?')})"
  limit = _ISA_FLAG.search(env.get("xla_flags", ""))
  return text + (f", code limited to {limit.group(1)}" if limit else "")
