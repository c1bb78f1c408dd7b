"""The package's import hygiene: no global JAX setting changed, no import cycle, float64 guarded."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "dynloss_lib"


def run_python(code):
  """Runs code in a fresh interpreter (fresh JAX settings); fails the test if it fails."""
  out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
  assert out.returncode == 0, out.stderr
  return out


def test_import_changes_no_jax_setting():
  code = ("import jax; before = jax.config.jax_enable_x64\n"
          "import dynloss_lib, dynloss_lib.experiments, dynloss_lib.training, dynloss_lib.studies.cli\n"
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


CORE = ("data", "schedules", "losses", "models", "training", "analysis", "checks", "experiments",
        "convnets", "cifar", "minibatch", "minibatch_program", "keyed_files")
"""The core: what a researcher imports to train with a dynamical loss."""


def _module_name(path):
  parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
  return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path):
  """The dynloss_lib modules that ``path`` imports, at any level (a function-level import
  only hides a cycle), plus those the registry imports by name."""
  tree = ast.parse(path.read_text())
  found = set()
  if path.stem == "registry":
    from dynloss_lib.studies import registry
    found |= {target.partition(":")[0] for target in
              [*registry.EXPERIMENTS.values(), *registry.COMMANDS,
               *(t for targets in registry.CLAIMS.values() for t in targets)]}
  for node in ast.walk(tree):
    if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("dynloss_lib"):
      found |= {node.module} | {f"{node.module}.{alias.name}" for alias in node.names}
    elif isinstance(node, ast.Import):
      found |= {a.name for a in node.names if a.name.startswith("dynloss_lib.")}
  return found


def _graph():
  modules = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
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


def test_the_core_imports_only_the_core():
  graph = _graph()
  core = {f"dynloss_lib.{name}" for name in CORE}
  assert core <= set(graph), sorted(core - set(graph))
  for name in sorted(core):
    outside = graph[name] - core - {"dynloss_lib"}
    assert not outside, f"{name} imports {sorted(outside)}, outside the core"


def test_the_core_is_thin():
  # Lines of code: not blank, not a comment, not a docstring.
  total = 0
  for name in CORE:
    source = (PACKAGE / f"{name}.py").read_text()
    docstrings = set()
    for node in ast.walk(ast.parse(source)):
      if isinstance(node, ast.Expr) and isinstance(getattr(node, "value", None), ast.Constant) \
          and isinstance(node.value.value, str):
        docstrings |= set(range(node.lineno, node.end_lineno + 1))
    total += sum(1 for i, line in enumerate(source.splitlines(), 1)
                 if line.strip() and not line.strip().startswith("#") and i not in docstrings)
  assert total <= 1500, total


def test_no_path_outside_the_repository_in_library_code():
  for path in PACKAGE.rglob("*.py"):
    source = path.read_text()
    assert '"shared"' not in source and "parents[2]" not in source, path
