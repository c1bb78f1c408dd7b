"""The library's import hygiene: no global JAX setting changed, no import cycle, float64
guarded, nothing of the book's code imported, and thin."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest
from source_lines import LIBRARY_LINES, code_lines

PACKAGE = Path(__file__).resolve().parents[1] / "dynloss_lib"
BOOK_CODE = Path(__file__).resolve().parents[1] / "book" / "dynloss_book"


def run_python(code):
  """Runs code in a fresh interpreter (fresh JAX settings); fails the test if it fails."""
  out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
  assert out.returncode == 0, out.stderr
  return out


def test_import_changes_no_jax_setting():
  code = ("import jax; before = jax.config.jax_enable_x64\n"
          "import dynloss_lib, dynloss_lib.experiments, dynloss_lib.training, dynloss_lib.cli\n"
          "print(before, jax.config.jax_enable_x64)")
  out = run_python(code)
  assert out.stdout.split() == ["False", "False"]


def test_float64_without_x64_is_a_clear_error():
  code = ("from dynloss_lib.experiments import SpiralConfig, run_spiral\n"
          "try:\n  run_spiral(SpiralConfig(steps=2), progress=False)\n"
          "except ValueError as error:\n  print(error)\n")
  out = run_python(code)
  assert "dtype=float64 needs JAX's 64-bit mode" in out.stdout
  assert "jax.config.update('jax_enable_x64', True)" in out.stdout


LIBRARY = tuple(sorted(path.stem for path in PACKAGE.glob("*.py")))
"""Every module of the library (the installed package is exactly these; tests/test_install.py)."""


def _module_name(path):
  root = PACKAGE.parent if path.is_relative_to(PACKAGE) else BOOK_CODE.parent
  parts = path.relative_to(root).with_suffix("").parts
  return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path):
  """The dynloss modules that ``path`` imports, at any level (a function-level import
  only hides a cycle), plus those the registry imports by name."""
  tree = ast.parse(path.read_text())
  found = set()
  if path.stem == "registry":
    from dynloss_book import registry
    found |= {target.partition(":")[0] for target in
              [*registry.EXPERIMENTS.values(), *registry.COMMANDS,
               *(t for targets in registry.CLAIMS.values() for t in targets)]}
  for node in ast.walk(tree):
    if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("dynloss"):
      found |= {node.module} | {f"{node.module}.{alias.name}" for alias in node.names}
    elif isinstance(node, ast.Import):
      found |= {a.name for a in node.names if a.name.startswith("dynloss")}
  return found


def _graph():
  modules = {_module_name(p): p for p in [*PACKAGE.rglob("*.py"), *BOOK_CODE.rglob("*.py")]}
  return {name: {m for m in _imports(path) if m in modules and m != name}
          for name, path in modules.items()}


def test_no_import_cycle():
  graph = _graph()
  state = {}

  def visit(node, trail):
    if state.get(node) == "done":
      return
    if state.get(node) == "open":
      cycle = trail[trail.index(node):] + [node]
      pytest.fail("import cycle: " + " -> ".join(cycle))
    state[node] = "open"
    for child in sorted(graph[node]):
      visit(child, trail + [node])
    state[node] = "done"

  for name in sorted(graph):
    visit(name, [])


def test_the_library_imports_nothing_of_the_book():
  graph = _graph()
  for name in sorted(n for n in graph if n.startswith("dynloss_lib")):
    book = {m for m in graph[name] if m.startswith("dynloss_book")}
    assert not book, f"{name} imports {sorted(book)}, the book's code"


def test_the_library_is_thin():
  # The same count over the installed copy: tests/test_install.py.
  total = sum(code_lines((PACKAGE / f"{name}.py").read_text()) for name in LIBRARY)
  assert total <= LIBRARY_LINES, total


def test_no_path_outside_the_repository_in_library_code():
  for path in [*PACKAGE.rglob("*.py"), *BOOK_CODE.rglob("*.py")]:
    source = path.read_text()
    assert '"shared"' not in source and "parents[2]" not in source, path
