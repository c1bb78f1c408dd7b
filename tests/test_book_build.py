"""Build the whole book (slow: every notebook is executed) and check each chapter's page.

Marked ``slow``; it runs in the default test command. Skip it with ``-m "not slow"``.
"""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]


def toc_chapters():
  toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
  return [toc["root"]] + [chapter["file"] for chapter in toc["chapters"]]


def test_toc_files_exist():
  for chapter in toc_chapters():
    matches = list(ROOT.glob(chapter + ".*"))
    assert matches, f"{chapter} is in _toc.yml but has no file"


def test_every_notebook_starts_with_badge_and_install_cell():
  import nbformat
  for path in sorted((ROOT / "book").glob("*.ipynb")):
    cells = nbformat.read(path, as_version=4).cells
    assert cells[0].cell_type == "markdown" and "colab-badge.svg" in cells[0].source, path
    assert f"blob/main/book/{path.name}" in cells[0].source, path
    assert cells[1].cell_type == "code" and '"google.colab" in sys.modules' in cells[1].source


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
  for chapter in toc_chapters():
    page = html / f"{chapter}.html"
    assert page.exists(), f"{page} was not built"
    text = page.read_text()
    for marker in ERROR_MARKERS:
      assert marker not in text, f"{page} shows {marker!r}"
    if chapter != toc_chapters()[0]:  # the intro page is text only
      images = re.findall(r'<img[^>]+src="([^"]+)"', text)
      figures = [src for src in images if "_images/" in src]  # cell outputs, not logos
      assert figures, f"{page} has no figure"
      for src in figures:
        assert (page.parent / src).exists(), f"{page} links a missing image {src}"
