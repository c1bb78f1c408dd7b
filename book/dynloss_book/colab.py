"""What a chapter's install cell does on Colab: the library, changing as little of Colab as it can.

A chapter's first code cell clones the repository (once per runtime), then calls
:func:`install`, then works in the clone's ``book/`` folder. The book's numbers need
JAX, flax and optax at the versions ``requirements.txt`` pins (:data:`PINNED`): those
are installed at exactly those versions. Everything else keeps the version the runtime
has, as long as it is at least the library's floor (``pyproject.toml``: the oldest
versions the library and the chapters are tested with, Colab's among them), so that
the numpy a Colab kernel has already imported stays where it is.

:func:`install_commands` decides what to install, so each situation can be tested
without Colab:

* a fresh CPU runtime: JAX, flax and optax at the tested versions and the library (not
  editable), in one pip command;
* a fresh GPU runtime: the same with a CUDA-enabled JAX (``jax[cuda12]``), kept if it is
  already there;
* a second run, or a run after a runtime restart: nothing.

:func:`install` shows what pip changed and every warning pip prints (its dependency
conflicts included). If pip replaced a package that this process has already imported
(numpy, say), the running kernel cannot use the new version: it says so in one line,
restarts the runtime on Colab (elsewhere it stops the run with that line); the next
"Run all" installs nothing and runs to the end.

This module imports nothing of the library: it runs before the library is installed.
"""

from __future__ import annotations

import importlib.metadata
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

PACKAGE = "dynloss"
PINNED = ("jax", "jaxlib", "flax", "optax")
"""Installed at exactly the versions ``requirements.txt`` pins: the book's numbers depend on
them (the rest only needs the library's floors)."""
CUDA_EXTRA = "cuda12"


class RestartRequired(RuntimeError):
  """pip replaced a package this process had already imported; the runtime must restart."""


def pinned_versions(repo) -> dict[str, str]:
  """``name -> version`` of the exact pins in the clone's ``requirements.txt``.

  Examples:
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> _ = (folder / "requirements.txt").write_text("jax==0.10.2  # pinned\\n-e .\\n")
    >>> pinned_versions(folder)
    {'jax': '0.10.2'}
  """
  pins = {}
  for line in (Path(repo) / "requirements.txt").read_text().splitlines():
    match = re.fullmatch(r"([A-Za-z0-9_.\-]+)==(\S+)", line.split("#")[0].strip())
    if match:
      pins[match.group(1).lower()] = match.group(2)
  return pins


def installed_version(name: str) -> str | None:
  """The installed version of distribution ``name``, or None."""
  try:
    return importlib.metadata.version(name)
  except importlib.metadata.PackageNotFoundError:
    return None


def has_gpu() -> bool:
  """An NVIDIA GPU runtime (``nvidia-smi`` is there)."""
  return shutil.which("nvidia-smi") is not None


def install_commands(repo, *, gpu: bool, installed=None) -> list[list[str]]:
  """The pip commands that give this runtime the library at the tested versions.

  Args:
    repo: the clone.
    gpu: whether the runtime has a GPU.
    installed: ``name -> version or None`` (default :func:`installed_version`: the
      runtime's installed distributions).

  Returns:
    Commands (argument lists): none when everything is in place, else one.

  Examples:
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> _ = (folder / "requirements.txt").write_text(
    ...     "jax==0.10.2\\njaxlib==0.10.2\\nflax==0.12.8\\noptax==0.2.8\\nnumpy==2.4.6\\n")
    >>> tested = {"jax": "0.10.2", "jaxlib": "0.10.2", "flax": "0.12.8", "optax": "0.2.8"}
    >>> install_commands(folder, gpu=False, installed={**tested, "dynloss": "0.1.0"}.get)
    []
    >>> [command] = install_commands(folder, gpu=True, installed={**tested, "jax": "0.7.2"}.get)
    >>> [part for part in command[5:] if part != str(folder)]
    ['jax[cuda12]==0.10.2', 'jaxlib==0.10.2', 'flax==0.12.8', 'optax==0.2.8']
  """
  installed = installed or installed_version
  pins = pinned_versions(repo)
  held = [f"{name}[{CUDA_EXTRA}]" if gpu and name == "jax" else name for name in PINNED]
  ready = installed(PACKAGE) is not None and all(installed(n) == pins[n] for n in PINNED)
  if gpu:
    ready = ready and installed(f"jax-{CUDA_EXTRA}-plugin") == pins["jax"]
  if ready:
    return []
  # one command, so that pip resolves the pins, the library and its floors together
  return [[sys.executable, "-m", "pip", "install", "-q",
           *(f"{spec}=={pins[name]}" for spec, name in zip(held, PINNED)), str(repo)]]


def versions() -> dict[str, str]:
  """``name -> version`` of every installed distribution (names lower-case)."""
  return {dist.metadata["Name"].lower(): dist.version
          for dist in importlib.metadata.distributions() if dist.metadata["Name"]}


def imported_distributions(modules=None) -> set[str]:
  """The distributions (lower-case names) of the top-level modules already imported."""
  modules = sys.modules if modules is None else modules
  owners = importlib.metadata.packages_distributions()
  return {dist.lower() for name in list(modules) if "." not in name
          for dist in owners.get(name, ())}


def changes(before: dict, after: dict) -> dict[str, tuple]:
  """``name -> (old, new)`` for each distribution pip added, removed or replaced.

  Examples:
    >>> changes({"numpy": "2.0.2", "jax": "0.7.2"}, {"numpy": "2.0.2", "jax": "0.10.2", "x": "1"})
    {'jax': ('0.7.2', '0.10.2'), 'x': (None, '1')}
  """
  return {name: (before.get(name), after.get(name)) for name in sorted(set(before) | set(after))
          if before.get(name) != after.get(name)}


def restart_line(replaced: dict[str, tuple]) -> str:
  """The one line that says why the runtime restarts.

  Examples:
    >>> restart_line({"numpy": ("2.0.2", "2.4.6")})
    'Restarting the runtime: pip replaced numpy 2.0.2 by 2.4.6, which this runtime had already imported. When it is back, run all the cells again: the second run installs nothing.'
  """
  shown = ", ".join(f"{name} {old} by {new}" for name, (old, new) in replaced.items())
  return (f"Restarting the runtime: pip replaced {shown}, which this runtime had already "
          "imported. When it is back, run all the cells again: the second run installs nothing.")


def restart_runtime() -> None:
  """On Colab, end this kernel: Colab restarts its runtime by itself (its own advice for a
  restart from code). Elsewhere nothing: :func:`install` then stops the run with its line."""
  if "google.colab" in sys.modules:
    time.sleep(1)  # let the line reach the notebook first
    os.kill(os.getpid(), signal.SIGKILL)


def install(repo) -> list[list[str]]:
  """Run :func:`install_commands` for this runtime; show what pip changed and warned.

  Returns:
    The commands run.

  Raises:
    RuntimeError: pip failed (its output is shown).
    RestartRequired: pip replaced a package already imported; the runtime is restarting.
  """
  commands = install_commands(repo, gpu=has_gpu())
  before = versions()
  loaded = imported_distributions()
  for command in commands:
    print("$ pip", " ".join(command[3:]), flush=True)
    result = subprocess.run(command, capture_output=True, text=True)
    shown = (result.stdout + result.stderr).strip()
    if result.returncode:
      print(shown[-6000:])
      raise RuntimeError(f"pip {' '.join(command[3:])} failed (exit status "
                         f"{result.returncode})")
    if shown:  # pip -q prints only its warnings and dependency conflicts
      print(shown)
  changed = changes(before, versions())
  if changed:
    print("pip changed:", ", ".join(
        f"{name} {old} -> {new}" if old and new else f"{name} {old or new} "
        f"({'removed' if old else 'new'})" for name, (old, new) in changed.items()))
  replaced = {name: change for name, change in changed.items() if name in loaded}
  if replaced:
    line = restart_line(replaced)
    print(line, flush=True)
    restart_runtime()
    raise RestartRequired(line)
  return commands


def install_cell(repository: str) -> str:
  """The source of every chapter's first code cell, for the repository at ``repository``
  (``_config.yml``'s ``repository.url``; ``scripts/set_repository.py`` writes it into the
  chapters, and a test checks that they hold exactly this).

  ``DYNLOSS_CLONE`` (default ``/content/dynloss``) is where it clones.
  """
  return f'''# On Colab: clone the repository (its stored results included) once, install the library at
# the tested versions (only JAX, flax and optax are pinned: Colab keeps its numpy and the rest)
# and work in the clone's book/ folder. A second run clones and installs nothing.
import os, subprocess, sys
if "google.colab" in sys.modules:
    REPOSITORY = "{repository}"
    CLONE = os.environ.get("DYNLOSS_CLONE", "/content/dynloss")
    if not os.path.exists(CLONE):
        git = subprocess.run(["git", "clone", "-q", "--depth", "1", REPOSITORY, CLONE],
                             capture_output=True, text=True)
        if git.returncode:
            raise RuntimeError(f"could not clone {{REPOSITORY}} ({{git.stderr.strip()}}); "
                               "is it the right address? (a fork: see the README)")
    os.chdir(f"{{CLONE}}/book")
    from dynloss_book import colab
    colab.install(CLONE)'''
