"""The book's pages in reading order, read from _toc.yml (shared by the book-build tests)."""
import json
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def toc_pages() -> list[str]:
  """The root page, then every chapter of every part, as paths without suffix."""
  toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
  if "parts" not in toc:
    raise ValueError(f"_toc.yml groups its chapters in parts; got top-level keys {sorted(toc)}")
  return [toc["root"]] + [chapter["file"] for part in toc["parts"] for chapter in part["chapters"]]


def markdown(path: Path) -> str:
  """A page's prose: a Markdown file's text, or a notebook's Markdown cells."""
  if path.suffix == ".md":
    return path.read_text()
  cells = json.loads(path.read_text())["cells"]
  return "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
