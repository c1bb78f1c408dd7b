"""Counting lines of code, for the tests that keep the library thin."""

import ast

LIBRARY_LINES = 1775
"""The most lines of code the installed library may have: about 1,700 (it holds the losses,
schedules, models, both engines and the minibatch engine's grouped form that trains a study's
runs together on a GPU, Hessian/NTK/Lanczos, the data, checks, the CPU pin and a small command
line; everything of the book's lives in book/dynloss_book). Raised from 1,550 for the grouped
engine (dynloss_lib.minibatch_many, about 150 lines), and from 1,750 to 1,775 for the spiral
engine's chunks that run unchecked first (training.run_batch, about 12 lines), which take the
divergence check out of the compiled step."""


def code_lines(source: str) -> int:
  """Lines of code: not blank, not a comment, not a docstring."""
  docstrings = set()
  for node in ast.walk(ast.parse(source)):
    if isinstance(node, ast.Expr) and isinstance(getattr(node, "value", None), ast.Constant) \
        and isinstance(node.value.value, str):
      docstrings |= set(range(node.lineno, node.end_lineno + 1))
  return sum(1 for i, line in enumerate(source.splitlines(), 1)
             if line.strip() and not line.strip().startswith("#") and i not in docstrings)
