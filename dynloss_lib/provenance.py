"""What a stored result ran on: software versions and hardware.

The spiral dynamics are chaotic, so a float64 trajectory can depend on the
CPU's vector instruction set and on how many threads XLA splits work over:
the same configuration can end at a different per-seed accuracy on another
machine. Every stored run therefore records :func:`environment`.
"""

from __future__ import annotations

import os
import platform

import jax
import jaxlib


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
