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
  from dynloss_book import colab
  url, owner, name, branch = repository()
  cells = nbformat.read(path, as_version=4).cells
  link = f"https://colab.research.google.com/github/{owner}/{name}/blob/{branch}/book/{path.name}"
  assert cells[0].cell_type == "markdown"
  # a text link, which reads well offline (a remote badge image does not load there)
  assert f"[Open this chapter in Colab]({link})" in cells[0].source
  assert not re.search(r"!\[[^\]]*\]\((?:https?:)?//", cells[0].source), "remote image"
  assert cells[1].cell_type == "code" and "hide-cell" in cells[1].metadata.get("tags", [])
  # written by scripts/set_repository.py from _config.yml: exactly colab.install_cell
  assert cells[1].source == colab.install_cell(url), (
      f"{path.name}: run python scripts/set_repository.py")
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


TESTED = {"jax": "TESTED", "jaxlib": "TESTED", "flax": "TESTED", "optax": "TESTED"}
SITUATIONS = {
    # situation: (on Colab, clone there, git clone's exit status, GPU, installed distributions)
    "not on Colab": (False, False, 0, False, {}),
    "fresh CPU runtime": (True, False, 0, False, {"jax": "0.7.2", "jaxlib": "0.7.2"}),
    "fresh GPU runtime": (True, False, 0, True, {"jax": "0.7.2", "jaxlib": "0.7.2",
                                                 "jax-cuda12-plugin": "0.7.2"}),
    "GPU runtime with the tested JAX": (True, False, 0, True, {**TESTED, "dynloss": "0.1.0",
                                                               "jax-cuda12-plugin": "TESTED"}),
    "second run": (True, True, 0, False, {**TESTED, "dynloss": "0.1.0"}),
    "clone fails": (True, False, 128, False, {}),
}


@pytest.mark.parametrize("situation", sorted(SITUATIONS))
@pytest.mark.parametrize("path", NOTEBOOKS[:1] + NOTEBOOKS[-1:], ids=lambda path: path.name)
def test_install_cell_works_in_the_book_folder_on_colab(path, situation, monkeypatch):
  """The install cell, run as IPython runs it, with Colab, the clone and pip simulated: what
  it runs in each situation (every chapter holds the same cell: see the test above)."""
  import nbformat
  from dynloss_book import colab
  url, owner, name, _ = repository()
  on_colab, cloned, clone_status, gpu, installed = SITUATIONS[situation]
  pins = colab.pinned_versions(ROOT)
  installed = {k: pins.get(k, pins["jax"]) if v == "TESTED" else v for k, v in installed.items()}
  source = nbformat.read(path, as_version=4).cells[1].source
  commands, moves = [], []

  def run(command, **kwargs):
    commands.append(command)
    status = clone_status if command[:2] == ["git", "clone"] else 0
    return types.SimpleNamespace(returncode=status, stdout="", stderr="fatal: not found")

  if on_colab:
    monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
  clone = "/content/dynloss"
  monkeypatch.delenv("DYNLOSS_CLONE", raising=False)
  exists = os.path.exists
  monkeypatch.setattr(os.path, "exists", lambda p: cloned if p == clone else exists(p))
  monkeypatch.setattr(os, "chdir", moves.append)
  monkeypatch.setattr(subprocess, "run", run)
  monkeypatch.setattr(colab, "has_gpu", lambda: gpu)
  monkeypatch.setattr(colab, "installed_version", installed.get)
  monkeypatch.setattr(colab, "versions", lambda: {})
  read_pins = colab.pinned_versions  # the clone's requirements.txt is this checkout's
  monkeypatch.setattr(colab, "pinned_versions", lambda repo: read_pins(ROOT))
  if clone_status:
    with pytest.raises(RuntimeError, match=re.escape(f"could not clone {url} (fatal: not found)")):
      exec(source, {})
    assert moves == []
    return
  exec(source, {})
  if not on_colab:
    assert commands == [] and moves == []
    return
  # always into the clone's book/ folder, where the chapters find results/ and data/
  assert moves == [f"{clone}/book"]
  git = [] if cloned else [["git", "clone", "-q", "--depth", "1", url, clone]]
  jax = f"jax[cuda12]=={pins['jax']}" if gpu else f"jax=={pins['jax']}"
  library = [sys.executable, "-m", "pip", "install", "-q", jax,
             *(f"{n}=={pins[n]}" for n in ("jaxlib", "flax", "optax")), clone]
  expected = {
      "fresh CPU runtime": [library],
      "fresh GPU runtime": [library],
      # a CUDA-enabled JAX at the tested version, flax, optax and the library: nothing to do
      "GPU runtime with the tested JAX": [],
      "second run": [],
  }[situation]
  assert commands == git + expected


def test_install_restarts_when_pip_replaces_an_imported_package(monkeypatch, capsys):
  from dynloss_book import colab
  monkeypatch.setattr(colab, "install_commands", lambda repo, gpu: [["pip", "-m", "pip", "x"]])
  monkeypatch.setattr(colab, "has_gpu", lambda: False)
  monkeypatch.setattr(colab.subprocess, "run", lambda command, **kw: types.SimpleNamespace(
      returncode=0, stdout="", stderr="ERROR: numba 0.60.0 requires numpy<2.1"))
  found = iter([{"numpy": "2.0.2", "jax": "0.7.2"}, {"numpy": "2.4.6", "jax": "0.10.2"}])
  monkeypatch.setattr(colab, "versions", lambda: next(found))
  monkeypatch.setattr(colab, "imported_distributions", lambda: {"numpy"})
  restarts = []
  monkeypatch.setattr(colab, "restart_runtime", lambda: restarts.append(True))
  with pytest.raises(colab.RestartRequired, match="pip replaced numpy 2.0.2 by 2.4.6"):
    colab.install("/content/dynloss")
  shown = capsys.readouterr().out
  assert "numba 0.60.0 requires numpy<2.1" in shown  # pip's conflicts are shown
  assert "jax 0.7.2 -> 0.10.2" in shown and restarts == [True]
  # nothing imported was replaced: no restart
  found = iter([{"jax": "0.7.2"}, {"jax": "0.10.2"}])
  assert colab.install("/content/dynloss") == [["pip", "-m", "pip", "x"]]
  assert restarts == [True]


def test_set_repository_derives_every_link_from_the_configuration(tmp_path):
  """Pointing the book at a fork rewrites the configuration, links, cells and pip lines."""
  copy = tmp_path / "repo"
  for name in ["_config.yml", "README.md", "book/intro.md", "scripts/set_repository.py",
               *(f"book/{p.name}" for p in NOTEBOOKS)]:
    (copy / name).parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(ROOT / name, copy / name)
  (copy / "book" / "dynloss_book").symlink_to(ROOT / "book" / "dynloss_book")
  fork = "https://github.com/someone/dynloss-fork"
  out = subprocess.run([sys.executable, str(copy / "scripts" / "set_repository.py"), fork,
                        "--branch", "dev"], capture_output=True, text=True)
  assert out.returncode == 0, out.stderr
  assert "url: https://github.com/someone/dynloss-fork" in (copy / "_config.yml").read_text()
  readme = (copy / "README.md").read_text()
  assert f'pip install "git+{fork}"' in readme and "github.com/dynloss/dynloss\"" not in readme
  chapter = (copy / "book" / NOTEBOOKS[0].name).read_text()
  assert "colab.research.google.com/github/someone/dynloss-fork/blob/dev/book/" in chapter
  assert "REPOSITORY = \\\"https://github.com/someone/dynloss-fork\\\"" in chapter
  # this checkout is consistent with its _config.yml
  out = subprocess.run([sys.executable, str(ROOT / "scripts" / "set_repository.py"), "--check"],
                       capture_output=True, text=True, cwd=tmp_path)
  assert out.returncode == 0 and out.stdout == "", out.stdout + out.stderr


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
