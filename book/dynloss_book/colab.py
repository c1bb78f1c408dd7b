"""What a chapter's install cell does on Colab: the library, at the tested versions.

A chapter's first code cell clones the repository (once per runtime), then calls
:func:`install`, then works in the clone's ``book/`` folder. :func:`install_commands`
decides what to install, so each situation can be tested without Colab:

* a fresh CPU runtime: JAX at the tested version (``requirements.txt``), then the
  library (not editable) with its dependencies held at their tested versions;
* a fresh GPU runtime: a CUDA-enabled JAX at the tested version (``jax[cuda12]``), kept
  if it is already there, then the library in the same way, so pip never swaps it for
  the CPU wheels;
* after a runtime restart (the library installed, JAX at the tested version): nothing.

This module imports nothing of the library: it runs before the library is installed.
"""

from __future__ import annotations

import importlib.metadata
import re
import shutil
import subprocess
import sys
from pathlib import Path

PACKAGE = "dynloss"
LIBRARY_DEPENDENCIES = ("jax", "jaxlib", "flax", "optax", "numpy", "matplotlib", "tqdm",
                        "pooch")
"""The library's dependencies, held at the versions ``requirements.txt`` pins."""
CUDA_EXTRA = "cuda12"


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
    Commands (argument lists), possibly none.

  Examples:
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> _ = (folder / "requirements.txt").write_text("jax==0.10.2\\njaxlib==0.10.2\\n")
    >>> ready = {"jax": "0.10.2", "jaxlib": "0.10.2", "dynloss": "0.1.0"}.get
    >>> install_commands(folder, gpu=False, installed=ready)
    []
    >>> for command in install_commands(folder, gpu=True, installed=ready):
    ...   print([part for part in command[3:] if part != str(folder)])
    ['install', '-q', 'jax[cuda12]==0.10.2']
    ['install', '-q', 'jax==0.10.2', 'jaxlib==0.10.2']
  """
  installed = installed or installed_version
  pins = pinned_versions(repo)
  jax = pins["jax"]
  pip = [sys.executable, "-m", "pip", "install", "-q"]
  commands = []
  if gpu:
    plugin = installed(f"jax-{CUDA_EXTRA}-plugin")
    if installed("jax") != jax or plugin != jax:
      commands.append(pip + [f"jax[{CUDA_EXTRA}]=={jax}"])
  elif installed("jax") != jax or installed("jaxlib") != jax:
    commands.append(pip + [f"jax=={jax}", f"jaxlib=={jax}"])
  if commands or installed(PACKAGE) is None:
    # the dependencies named beside the library hold them at the tested versions
    held = [f"{name}=={pins[name]}" for name in LIBRARY_DEPENDENCIES if name in pins]
    commands.append(pip + [str(repo)] + held)
  return commands


def install(repo) -> list[list[str]]:
  """Run :func:`install_commands` for this runtime, printing what pip prints on failure.

  Returns:
    The commands run.
  """
  commands = install_commands(repo, gpu=has_gpu())
  for command in commands:
    print("$", " ".join(command[2:]), flush=True)
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode:
      print(result.stdout[-3000:], result.stderr[-3000:], sep="\n")
      raise RuntimeError(f"{' '.join(command[2:])} failed (exit status {result.returncode})")
  return commands
