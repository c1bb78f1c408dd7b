"""Chapters run as a new Colab user runs them: Python 3.12, Colab's packages, "Run all" once.

A fresh Python 3.12 environment gets the packages of Colab's runtime at Colab's versions
(``tests/colab_runtime.txt``: its numpy 2.0.2, JAX 0.7.2, flax 0.11.2, ...), a stand-in for
``google.colab`` (with ``drive.mount``), and a copy of the repository where the install cell
clones it. Each chapter then runs on a copy of that fresh environment (each Colab notebook
gets its own runtime), in a kernel that has imported numpy and ``google.colab`` before the
first cell, as Colab's kernel has, top to bottom, on its first run: the install cell installs
what it must and every later cell runs. The install must leave Colab's numpy alone (else the
kernel, which has it imported, would need a restart) and say what pip changed.

Marked ``slow`` (about five minutes: pip installs from its cache); the README's test command
runs it. A machine without Python 3.12 fails here, naming what is missing.
"""

import glob
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from shipped import copy_checkout, run

ROOT = Path(__file__).resolve().parents[1]
RUNTIME = ROOT / "tests" / "colab_runtime.txt"
CHAPTERS = ("what_is_a_dynamical_loss.ipynb", "train_your_own.ipynb", "cifar10_myrtle5.ipynb")
"""The first chapter, the one that trains with flax, optax and scikit-learn, and CIFAR10."""
FAKE_COLAB = '''"""A stand-in for Colab's google.colab package (tests/test_colab.py)."""
'''
FAKE_DRIVE = '''"""A stand-in for google.colab.drive: mount makes the folder."""
import os


def mount(mountpoint, force_remount=False):
  os.makedirs(os.path.join(mountpoint, "MyDrive"), exist_ok=True)
'''
DRIVER = r'''
import json, sys
import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError
name = sys.argv[1]
nb = nbformat.read(name, as_version=4)
client = NotebookClient(nb, timeout=900, kernel_name="python3",
                        resources={"metadata": {"path": "."}},
                        extra_arguments=["--IPKernelApp.exec_lines=['import numpy', "
                                         "'import google.colab']"])
error = None
try:
  client.execute()
except CellExecutionError as failure:
  error = str(failure)[-3000:]
install = "".join(o.get("text", "") for o in nb.cells[1].get("outputs", []))
ran = sum(1 for c in nb.cells if c.cell_type == "code" and c.get("execution_count"))
print(json.dumps({"error": error, "install_output": install, "cells_run": ran,
                  "code_cells": sum(c.cell_type == "code" for c in nb.cells)}))
'''

pytestmark = pytest.mark.slow


def python312() -> str:
  """A Python 3.12 interpreter: ``python3.12`` on the PATH, else pyenv's or the system's."""
  candidates = [shutil.which("python3.12")]
  candidates += sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/3.12*/bin/python3.12")))
  candidates += ["/usr/bin/python3.12", "/usr/local/bin/python3.12"]
  for candidate in filter(None, candidates):
    out = subprocess.run([candidate, "-c", "import sys, venv; print(sys.version_info[:2])"],
                         capture_output=True, text=True)
    if out.returncode == 0 and out.stdout.strip() == "(3, 12)":
      return candidate
  pytest.fail("Colab runs Python 3.12, and no Python 3.12 with venv was found (looked for "
              "python3.12 on the PATH, ~/.pyenv/versions/3.12*, /usr/bin and /usr/local/bin): "
              "install one (e.g. pyenv install 3.12) to run this test")



@pytest.fixture(scope="module")
def runtime(tmp_path_factory):
  """``(folder, venv, clone)``: Colab's packages in a fresh 3.12 environment, and the clone."""
  folder = tmp_path_factory.mktemp("colab")
  venv = folder / "runtime"
  run([python312(), "-m", "venv", str(venv)])
  python = str(venv / "bin" / "python")
  run([python, "-m", "pip", "install", "-q", "-r", str(RUNTIME)])
  site = Path(run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"])
              .stdout.strip())
  (site / "google" / "colab").mkdir(parents=True)
  (site / "google" / "colab" / "__init__.py").write_text(FAKE_COLAB)
  (site / "google" / "colab" / "drive.py").write_text(FAKE_DRIVE)
  # JAX imports google.colab.output on Colab (its debugger's front end); nothing is called
  (site / "google" / "colab" / "output.py").write_text('"""A stand-in: imported only."""\n')
  clone = copy_checkout(folder / "dynloss")
  return folder, venv, clone


def _versions(python):
  code = ("import importlib.metadata as m, json\n"
          "print(json.dumps({d.metadata['Name'].lower(): d.version for d in m.distributions()}))")
  return json.loads(run([python, "-c", code]).stdout)


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_a_chapter_runs_on_its_first_run_all(runtime, chapter, tmp_path):
  folder, fresh, clone = runtime
  venv = tmp_path / "runtime"  # a runtime of its own, as each Colab notebook has
  shutil.copytree(fresh, venv, symlinks=True)
  python = str(venv / "bin" / "python")
  before = _versions(python)
  environment = {k: v for k, v in os.environ.items()
                 if k not in ("PYTHONPATH", "DYNLOSS_STORED_ONLY", "XLA_FLAGS", "VIRTUAL_ENV",
                              "MPLBACKEND")}
  environment.update(DYNLOSS_CLONE=str(clone), PATH=f"{venv / 'bin'}:{environment['PATH']}")
  try:
    out = run([python, "-c", DRIVER, str(clone / "book" / chapter)], cwd=tmp_path,
              env=environment)
    after = _versions(python)
  finally:
    shutil.rmtree(venv, ignore_errors=True)  # a runtime is about a gigabyte
  report = json.loads(out.stdout.strip().splitlines()[-1])
  print(chapter, "install cell printed:", report["install_output"], sep="\n")
  assert report["error"] is None, f"{chapter} failed on its first run:\n{report['error']}"
  assert report["cells_run"] == report["code_cells"]
  # the install kept Colab's numpy (the kernel had it imported) and said what it changed
  assert after["numpy"] == before["numpy"] == "2.0.2"
  shown = report["install_output"]
  assert "pip changed:" in shown and f"jax {before['jax']} -> {after['jax']}" in shown, shown
  assert "Restarting" not in shown
