"""The package's import hygiene: no global JAX setting changed, no import cycle, float64 guarded."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "dynloss_lib"


def test_import_changes_no_jax_setting():
  code = ("import jax; before = jax.config.jax_enable_x64\n"
          "import dynloss_lib, dynloss_lib.experiments, dynloss_lib.training, dynloss_lib.cli\n"
          "print(before, jax.config.jax_enable_x64)")
  out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
  assert out.returncode == 0, out.stderr
  assert out.stdout.split() == ["False", "False"]


def test_float64_without_x64_is_a_clear_error():
  code = ("from dynloss_lib.experiments import SpiralConfig, run_spiral\n"
          "try:\n  run_spiral(SpiralConfig(steps=2), progress=False)\n"
          "except ValueError as error:\n  print(error)\n")
  out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
  assert out.returncode == 0, out.stderr
  assert "dtype=float64 needs JAX's 64-bit mode" in out.stdout
  assert "jax.config.update('jax_enable_x64', True)" in out.stdout


def _imports(path):
  """The dynloss_lib modules that ``path`` imports, at any level (a function-level import
  only hides a cycle), plus those the registry imports by name."""
  tree = ast.parse(path.read_text())
  found = set()
  if path.stem == "registry":
    from dynloss_lib import registry
    found |= {target.partition(":")[0] for target in
              [*registry.EXPERIMENTS.values(), *registry.COMMANDS,
               *(t for targets in registry.CLAIMS.values() for t in targets)]}
  for node in ast.walk(tree):
    if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("dynloss_lib"):
      if node.module == "dynloss_lib":
        found |= {f"dynloss_lib.{alias.name}" for alias in node.names}
      else:
        found.add(node.module)
    elif isinstance(node, ast.Import):
      found |= {a.name for a in node.names if a.name.startswith("dynloss_lib.")}
  return found


def test_no_import_cycle():
  modules = {f"dynloss_lib.{p.stem}": p for p in PACKAGE.glob("*.py") if p.stem != "__init__"}
  graph = {name: {m for m in _imports(path) if m in modules} for name, path in modules.items()}
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
