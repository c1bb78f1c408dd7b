"""The book's structure, and the whole book built and checked page by page.

Fast checks: the table of contents, each notebook's first cells (a text link to Colab and the
install cell, run with Colab simulated), and the repository URL, kept in _config.yml only.
The build (every notebook executed) is marked ``slow``; it runs in the default test command.
Skip it with ``-m "not slow"``.
"""

import os
import re
import shutil
import subprocess
import sys
import types
from pathlib import Path

import pytest
import yaml
from book_toc import toc_pages

ROOT = Path(__file__).resolve().parents[1]


def test_toc_files_exist():
  for chapter in toc_pages():
    matches = list(ROOT.glob(chapter + ".*"))
    assert matches, f"{chapter} is in _toc.yml but has no file"


NOTEBOOKS = sorted((ROOT / "book").glob("*.ipynb"))
GITHUB_REPO = re.compile(r"github\.com/([\w.-]+)/([\w.-]+?)(?:\.git)?(?=[/\s)\"'`]|$)")


def repository():
  """The repository URL, owner, name and branch, kept in one place: _config.yml."""
  config = yaml.safe_load((ROOT / "_config.yml").read_text())["repository"]
  url = config["url"]
  match = re.fullmatch(r"https://github\.com/([\w.-]+)/([\w.-]+)", url)
  assert match, f"_config.yml: repository.url must be https://github.com/OWNER/NAME, got {url!r}"
  return url, match.group(1), match.group(2), config["branch"]


def test_toc_groups_the_chapters_in_numbered_parts():
  toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
  assert len(toc["parts"]) >= 3
  for part in toc["parts"]:
    assert part["caption"] and part.get("numbered") is True, part
  # every notebook of book/ is a chapter
  assert {f"book/{path.stem}" for path in NOTEBOOKS} == set(toc_pages()[1:])


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.name)
def test_notebook_starts_with_colab_link_and_install_cell(path):
  import nbformat
  url, owner, name, branch = repository()
  cells = nbformat.read(path, as_version=4).cells
  colab = f"https://colab.research.google.com/github/{owner}/{name}/blob/{branch}/book/{path.name}"
  assert cells[0].cell_type == "markdown"
  # a text link, which reads well offline (a remote badge image does not load there)
  assert f"[Open this chapter in Colab]({colab})" in cells[0].source
  assert not re.search(r"!\[[^\]]*\]\((?:https?:)?//", cells[0].source), "remote image"
  assert cells[1].cell_type == "code" and "hide-cell" in cells[1].metadata.get("tags", [])
  assert f"git clone --depth 1 {url} /content/{name}\n" in cells[1].source
  # its "!git clone" line highlights only as IPython (as Python it is a build warning)
  language = nbformat.read(path, as_version=4).metadata.get("language_info", {})
  assert language.get("pygments_lexer") == "ipython3", f"{path.name}: execute it (language_info)"


def test_repository_url_is_the_configured_one_everywhere():
  import nbformat
  url, owner, name, _ = repository()
  for path in NOTEBOOKS:
    for cell in nbformat.read(path, as_version=4).cells:
      for found in GITHUB_REPO.findall(cell.source):
        assert found == (owner, name), f"{path.name} names the repository {found}, not {url}"
  readme = (ROOT / "README.md").read_text()
  assert f"git+{url}" in readme, f"README.md does not install from {url}"
  for found in GITHUB_REPO.findall(readme):
    assert found == (owner, name), f"README.md names the repository {found}, not {url}"


SITUATIONS = {
    # situation: (on Colab, clone there, GPU, installed distributions)
    "not on Colab": (False, False, False, {}),
    "fresh CPU runtime": (True, False, False, {"jax": "0.4.33", "jaxlib": "0.4.33"}),
    "fresh GPU runtime": (True, False, True, {"jax": "0.4.33", "jaxlib": "0.4.33",
                                              "jax-cuda12-plugin": "0.4.33"}),
    "GPU runtime with the tested JAX": (True, False, True, {"jax": "TESTED", "jaxlib": "TESTED",
                                                            "jax-cuda12-plugin": "TESTED"}),
    "after a restart": (True, True, False, {"jax": "TESTED", "jaxlib": "TESTED",
                                            "dynloss": "0.1.0"}),
}


@pytest.mark.parametrize("situation", sorted(SITUATIONS))
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.name)
def test_install_cell_works_in_the_book_folder_on_colab(path, situation, monkeypatch):
  """The install cell, run as IPython runs it, with Colab, the clone, pip and the shell
  simulated: the commands it issues in each situation."""
  import nbformat
  from IPython.core.inputtransformer2 import TransformerManager
  from dynloss_book import colab
  url, owner, name, _ = repository()
  on_colab, cloned, gpu, installed = SITUATIONS[situation]
  tested = colab.pinned_versions(ROOT)["jax"]
  installed = {k: tested if v == "TESTED" else v for k, v in installed.items()}
  source = TransformerManager().transform_cell(nbformat.read(path, as_version=4).cells[1].source)
  shell, pip, moves = [], [], []

  class Shell:
    def system(self, command):
      shell.append(command)

  if on_colab:
    monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
  clone = f"/content/{name}"
  exists = os.path.exists
  monkeypatch.setattr(os.path, "exists", lambda p: cloned if p == clone else exists(p))
  monkeypatch.setattr(os, "chdir", moves.append)
  monkeypatch.setattr(colab, "has_gpu", lambda: gpu)
  monkeypatch.setattr(colab, "installed_version", installed.get)
  read_pins = colab.pinned_versions  # the clone's requirements.txt is this checkout's
  monkeypatch.setattr(colab, "pinned_versions", lambda repo: read_pins(ROOT))
  monkeypatch.setattr(colab.subprocess, "run", lambda command, **kw: pip.append(command) or
                      types.SimpleNamespace(returncode=0, stdout="", stderr=""))
  exec(source, {"get_ipython": lambda: Shell()})
  if not on_colab:
    assert shell == [] and moves == [] and pip == []
    return
  # always into the clone's book/ folder, where the chapters find results/ and data/
  assert moves == [f"{clone}/book"]
  assert shell == ([] if cloned else [f"git clone --depth 1 {url} {clone}"])
  pins = colab.pinned_versions(ROOT)
  library = [sys.executable, "-m", "pip", "install", "-q", clone] + [
      f"{n}=={pins[n]}" for n in colab.LIBRARY_DEPENDENCIES]
  expected = {
      "fresh CPU runtime": [[*library[:5], f"jax=={tested}", f"jaxlib=={tested}"], library],
      "fresh GPU runtime": [[*library[:5], f"jax[cuda12]=={tested}"], library],
      # a CUDA-enabled JAX at the tested version is kept: only the library is installed,
      # with jax pinned to the version that is there
      "GPU runtime with the tested JAX": [library],
      "after a restart": [],
  }[situation]
  assert pip == expected


ERROR_MARKERS = ("Traceback (most recent call last)", 'class="output traceback', "Error:",
                 "CellExecutionError")


@pytest.mark.slow
def test_book_builds_with_every_chapter(tmp_path):
  jupyter_book = shutil.which("jupyter-book", path=str(Path(sys.executable).parent))
  assert jupyter_book, "jupyter-book is not installed next to this python"
  # The flags of scripts/build_book.sh: warnings (and nitpicks) fail the build.
  command = [jupyter_book, "build", "--all", "--warningiserror", "--nitpick", "--keep-going",
             "--path-output", str(tmp_path), str(ROOT)]
  result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
  assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-5000:]
  html = tmp_path / "_build" / "html"
  for chapter in toc_pages():
    page = html / f"{chapter}.html"
    assert page.exists(), f"{page} was not built"
    text = page.read_text()
    for marker in ERROR_MARKERS:
      assert marker not in text, f"{page} shows {marker!r}"
    notebook = ROOT / f"{chapter}.ipynb"
    if notebook.exists() and '"image/png"' in notebook.read_text():  # the outputs' figures
      images = re.findall(r'<img[^>]+src="([^"]+)"', text)
      figures = [src for src in images if "_images/" in src]  # cell outputs, not logos
      assert figures, f"{page} has no figure"
      for src in figures:
        assert (page.parent / src).exists(), f"{page} links a missing image {src}"
