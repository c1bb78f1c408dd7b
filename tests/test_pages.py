"""What a reader sees: numbers in the prose come from cells, and outputs fit their box.

Checked on the committed notebooks (their outputs are what the book shows, and nbval keeps
them equal to a fresh run) and on the landing page.
"""

import json
import re
from pathlib import Path

import pytest
from book_toc import markdown, toc_pages

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "book").glob("*.ipynb"))
WIDTH = 95
"""Characters an output box shows at the book's rendered width (the wider rest is cut off)."""
GLUE = re.compile(r"\{glue(?::\w*)?\}`([^`]+)`")


def _notebook(path):
  return json.loads(path.read_text())


def glued_keys(path) -> set[str]:
  """The keys a notebook's committed outputs glue (myst-nb's ``glue``)."""
  keys = set()
  for cell in _notebook(path)["cells"]:
    for output in cell.get("outputs", []):
      name = output.get("metadata", {}).get("scrapbook", {}).get("name")
      if name:
        keys.add(name)
  return keys


def used_keys(text: str) -> list[tuple[str, str]]:
  """``(document, key)`` of every glue role in ``text`` (document "" for the page itself)."""
  found = []
  for role in GLUE.findall(text):
    key = role.rsplit(":", 1)[0] if re.search(r":[<>=^+\- #0-9.,]*[a-zA-Z%]$", role) else role
    document, _, key = key.rpartition("::")
    found.append((document, key))
  return found


PAGES = [ROOT / "book" / "intro.md", *NOTEBOOKS]


@pytest.mark.parametrize("path", PAGES, ids=lambda p: p.name)
def test_every_glued_number_a_page_quotes_is_defined(path):
  missing = []
  for document, key in used_keys(markdown(path)):
    source = (path.parent / document) if document else path
    if not source.exists() or key not in glued_keys(source):
      missing.append(f"{document or path.name}::{key}")
  assert not missing, f"{path.name} quotes glued keys that no cell defines: {missing}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_no_output_line_is_wider_than_its_box(path):
  wide = []
  for index, cell in enumerate(_notebook(path)["cells"]):
    for output in cell.get("outputs", []):
      text = "".join(output.get("text", ""))
      data = output.get("data", {})
      if "text/html" not in data and "text/markdown" not in data and "image/png" not in data:
        text += "".join(data.get("text/plain", ""))
      wide += [f"cell {index}: {line[:60]}... ({len(line)})" for line in text.splitlines()
               if len(line) > WIDTH]
  assert not wide, f"{path.name}: output lines wider than {WIDTH} characters:\n" + \
      "\n".join(wide)


RESULT = re.compile(r"(?<![\w.:])[+-]?\d+\.\d{3,}(?![\w.])")
"""A number with three or more decimals: a measured result, which the prose must glue."""


def typed_results(text: str) -> list[str]:
  """Numbers with 3+ decimals in the prose, outside math, code, glue roles and links."""
  prose = re.sub(r"```.*?```", "", text, flags=re.S)
  prose = re.sub(r"\$\$.*?\$\$|\$[^$]*\$|`[^`]*`|\]\([^)]*\)", "", prose, flags=re.S)
  return RESULT.findall(prose)


@pytest.mark.parametrize("path", PAGES, ids=lambda p: p.name)
def test_no_result_is_typed_by_hand_in_the_prose(path):
  typed = typed_results(markdown(path))
  assert not typed, f"{path.name} types these numbers in its prose instead of gluing them: {typed}"


def test_the_glue_role_parser():
  assert used_keys("a {glue:text}`gain:+.4f` b {glue:}`x` {glue:text}`p.ipynb::k:.3f`") == [
      ("", "gain"), ("", "x"), ("p.ipynb", "k")]
  assert set(toc_pages()) >= {f"book/{p.stem}" for p in NOTEBOOKS}
  assert typed_results("gain +0.0158 and $0.993$ and `0.5000` and {glue:text}`g:.3f`, 0.99") == \
      ["+0.0158"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_every_figure_a_cell_shows_is_in_its_output(path):
  # Executed with MPLBACKEND=Agg, plt.show() shows nothing unless the page uses the inline
  # backend: the figure would be missing from the book without an error.
  missing = [index for index, cell in enumerate(_notebook(path)["cells"])
             if cell["cell_type"] == "code" and "plt.show()" in "".join(cell["source"])
             and not any("image/png" in output.get("data", {})
                         for output in cell.get("outputs", []))]
  assert not missing, f"{path.name}: cells {missing} show a figure that their output lacks"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_no_code_line_is_wider_than_its_box(path):
  # The code box shows as many characters as the output box; a wider line is cut off (the
  # removed cells are not shown)
  wide = [f"cell {index}: {line[:60]}... ({len(line)})"
          for index, cell in enumerate(_notebook(path)["cells"])
          if cell["cell_type"] == "code"
          and "remove-cell" not in cell.get("metadata", {}).get("tags", [])
          for line in "".join(cell["source"]).splitlines() if len(line) > WIDTH]
  assert not wide, f"{path.name}: code lines wider than {WIDTH} characters:\n" + "\n".join(wide)
