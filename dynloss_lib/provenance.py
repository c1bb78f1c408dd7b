"""What a stored result ran on, and the CPU setting that makes it reproducible.

The spiral dynamics are chaotic, so a float64 trajectory can depend on the
CPU's vector instruction set and on how many threads XLA splits work over:
the same configuration can end at a different per-seed accuracy on another
machine. Every stored run therefore records :func:`environment`, and
:func:`pin_cpu_isa` limits XLA's generated CPU code to AVX2, so that x86
machines with and without AVX-512 compute the same trajectories (measured:
an AVX-512 AMD EPYC, Zen 4, limited to AVX2 reproduces a Zen 3's runs bitwise).
A pinned process also compiles a lone run as the stored runs were, as a batch of
one (:func:`lone_run_axis`).
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


def cpu_isa_in_effect() -> str | None:
  """The instruction set XLA's CPU code is limited to in this process (None: the host's own).

  Read from ``XLA_FLAGS``, where :func:`pin_cpu_isa` puts it.

  Examples:
    >>> import os
    >>> old = os.environ.get("XLA_FLAGS")
    >>> os.environ["XLA_FLAGS"] = "--xla_cpu_max_isa=AVX512"
    >>> cpu_isa_in_effect()
    'AVX512'
    >>> _ = os.environ.pop("XLA_FLAGS") if old is None else os.environ.update(XLA_FLAGS=old)
  """
  current = _ISA_FLAG.search(os.environ.get("XLA_FLAGS", ""))
  return current.group(1) if current else None


def lone_run_axis() -> bool:
  """Whether one run per device (a lone run) keeps its run axis of size 1 by default
  (``training.run_batch``): on a CPU whose XLA code is pinned to an instruction set
  (:func:`pin_cpu_isa`, as the book's chapters and command line are), where every stored
  trajectory was computed so; not elsewhere.

  The axis changes how XLA orders a step's sums, so (the dynamics being chaotic) the
  trajectory, and costs a CPU about 15% of a lone run's speed: the pin, which exists to
  reproduce the stored runs, keeps it; an unpinned process runs faster, as another
  realisation of the arithmetic.
  """
  return jax.default_backend() == "cpu" and cpu_isa_in_effect() is not None


def _cpuinfo() -> dict[str, str]:
  """The first value of each field of ``/proc/cpuinfo`` (empty where there is none)."""
  fields = {}
  try:
    with open("/proc/cpuinfo") as info:
      for line in info:
        name, _, value = line.partition(":")
        fields.setdefault(name.strip(), value.strip())
  except OSError:
    pass
  return fields


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
  cpu = _cpuinfo()
  vector = sorted(f for f in cpu.get("flags", "").split() if f.startswith(("avx", "fma", "sse4")))
  return {
      "jax": jax.__version__, "jaxlib": jaxlib.__version__,
      "backend": jax.default_backend(), "device_kind": jax.devices()[0].device_kind,
      "devices": int(devices),
      "cpu_model": cpu.get("model name") or platform.processor() or platform.machine(),
      "cpu_family_model": f"{cpu.get('cpu family', '')}/{cpu.get('model', '')}",
      "cpu_count": os.cpu_count(), "cpu_vector_flags": " ".join(vector),
      "xla_flags": os.environ.get("XLA_FLAGS", ""), "python": platform.python_version(),
  }
