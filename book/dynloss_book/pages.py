"""What the chapters use to show results: glued numbers and short tables.

:func:`glue` is myst-nb's ``glue`` where myst-nb is installed (the book build, nbval),
so the prose quotes numbers the cells computed (``{glue:text}`key:.3f```); on a
runtime without it (Colab) it does nothing. :func:`table` shows rows as a Markdown
table, which the book renders as HTML and which wraps inside the text column.
"""

from __future__ import annotations

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
