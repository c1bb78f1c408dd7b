"""What the chapters use to show results: glued numbers and short tables.

:func:`glue` is myst-nb's ``glue`` where myst-nb is installed (the book build, nbval),
so the prose quotes numbers the cells computed (``{glue:text}`key:.3f```); on a
runtime without it (Colab) it does nothing. :func:`table` shows rows as a Markdown
table, which the book renders as HTML and which wraps inside the text column.
"""

from __future__ import annotations

import json
import re
import textwrap
from pathlib import Path
from typing import Any, Sequence

try:
  from myst_nb import glue as _myst_glue
except ImportError:  # Colab: the page is not being built, nothing to paste into
  _myst_glue = None


def glue(name: str, value: Any) -> None:
  """Keep ``value`` under ``name`` for the page's prose (nothing is displayed).

  Numbers are stored as Python floats or ints (myst-nb cannot format numpy scalars).

  Examples:
    >>> glue("answer", 42)
  """
  if hasattr(value, "item"):
    value = value.item()
  if _myst_glue is not None:
    _myst_glue(name, value, display=False)


def table(header: Sequence[str], rows: Sequence[Sequence[Any]]):
  """A Markdown table of ``rows`` under ``header`` (cells shown with ``str``).

  Examples:
    >>> print(table(["loss", "accuracy"], [["static", 0.5], ["dynamical", 0.99]]).data)
    | loss | accuracy |
    | --- | --- |
    | static | 0.5 |
    | dynamical | 0.99 |
  """
  from IPython.display import Markdown
  lines = ["| " + " | ".join(map(str, header)) + " |", "|" + " --- |" * len(header)]
  lines += ["| " + " | ".join(map(str, row)) + " |" for row in rows]
  return Markdown("\n".join(lines))


WIDTH = 92
"""Characters of an output line that fit the book's output box."""


def wrap(text: str, width: int = WIDTH) -> str:
  """``text`` broken at spaces into lines that fit an output box (continuations indented).

  Examples:
    >>> print(wrap("SpiralConfig(width=100, amplitude=70.0, period=5000)", width=30))
    SpiralConfig(width=100,
      amplitude=70.0, period=5000)
  """
  return "\n".join(textwrap.wrap(str(text), width, subsequent_indent="  ",
                                  break_on_hyphens=False))


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
  limit = re.search(r"--xla_cpu_max_isa=(\S+)", env.get("xla_flags", ""))
  return text + (f", code limited to {limit.group(1)}" if limit else "")


CHAPTER_TIMES = Path(__file__).resolve().parents[1] / "chapter_times.json"
"""Seconds each chapter took to execute from the stored results (``scripts/time_chapters.py``)."""


def stored_seconds(chapter: str) -> float:
  """How long ``chapter`` (a notebook's name) takes to run from the stored results, as measured
  by ``scripts/time_chapters.py`` (NaN before it was measured)."""
  if not CHAPTER_TIMES.exists():
    return float("nan")
  return float(json.loads(CHAPTER_TIMES.read_text()).get(chapter, float("nan")))


def scratch_hours(runs, key: str = "wall_seconds") -> float:
  """The hours the stored ``runs`` took to compute (their recorded ``final[key]``)."""
  return sum(float(run.final[key]) for run in runs) / 3600
