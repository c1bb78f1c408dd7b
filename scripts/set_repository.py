"""Point the book at a repository: ``python scripts/set_repository.py URL [--branch BRANCH]``.

The repository's address is defined once, in ``_config.yml`` (``repository.url`` and
``repository.branch``). This script writes a new one there, then derives everything that
names it: each chapter's Colab link and install cell
(:func:`dynloss_book.colab.install_cell`), the README's and the landing page's
``pip install "git+URL"`` lines. Without arguments it rewrites them from ``_config.yml``
as it is (``tests/test_book_build.py`` checks that nothing differs). For a fork::

  python scripts/set_repository.py https://github.com/<you>/dynloss
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import nbformat
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "book"))
from dynloss_book import colab  # noqa: E402

ADDRESS = re.compile(r"https://github\.com/([\w.-]+)/([\w.-]+)")
COLAB_LINK = re.compile(r"\[Open this chapter in Colab\]\([^)]*\)")
PIP_LINE = re.compile(r'pip install "git\+[^"]*"')


def configured() -> tuple[str, str]:
  """``(url, branch)`` from ``_config.yml``."""
  repository = yaml.safe_load((ROOT / "_config.yml").read_text())["repository"]
  return repository["url"], repository["branch"]


def colab_link(url: str, branch: str, notebook: str) -> str:
  """The chapter's "Open in Colab" link.

  Examples:
    >>> colab_link("https://github.com/me/dynloss", "main", "schedules.ipynb")
    '[Open this chapter in Colab](https://colab.research.google.com/github/me/dynloss/blob/main/book/schedules.ipynb)'
  """
  owner, name = ADDRESS.fullmatch(url).groups()
  return (f"[Open this chapter in Colab](https://colab.research.google.com/github/{owner}/"
          f"{name}/blob/{branch}/book/{notebook})")


def write_config(url: str, branch: str) -> None:
  path = ROOT / "_config.yml"
  text = path.read_text()
  text = re.sub(r"(?m)^(repository:\n  url: ).*$", rf"\g<1>{url}", text)
  text = re.sub(r"(?m)^(  branch: ).*$", rf"\g<1>{branch}", text)
  path.write_text(text)


def apply(url: str, branch: str, write: bool = True) -> list[Path]:
  """Rewrite every place that names the repository; returns the files that differed."""
  changed = []
  for path in sorted((ROOT / "book").glob("*.ipynb")):
    notebook = nbformat.read(path, as_version=4)
    head, install = notebook.cells[0], notebook.cells[1]
    source = (COLAB_LINK.sub(colab_link(url, branch, path.name), head.source),
              colab.install_cell(url))
    if (head.source, install.source) != source:
      head.source, install.source = source
      if write:
        nbformat.write(notebook, path)
      changed.append(path)
  for path in (ROOT / "README.md", ROOT / "book" / "intro.md"):
    text = path.read_text()
    new = PIP_LINE.sub(f'pip install "git+{url}"', text)
    if new != text:
      if write:
        path.write_text(new)
      changed.append(path)
  return changed


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("url", nargs="?", help="https://github.com/OWNER/NAME (default: "
                                             "_config.yml's)")
  parser.add_argument("--branch", default=None, help="the branch (default: _config.yml's)")
  parser.add_argument("--check", action="store_true",
                      help="write nothing; list the files that differ from _config.yml's "
                           "address (exit status 1 if any)")
  args = parser.parse_args(argv)
  url, branch = configured()
  if args.check:
    stale = apply(url, branch, write=False)
    for path in stale:
      print("differs:", path.relative_to(ROOT))
    return 1 if stale else 0
  url, branch = args.url or url, args.branch or branch
  if not ADDRESS.fullmatch(url):
    parser.error(f"the address must be https://github.com/OWNER/NAME, got {url!r}")
  write_config(url, branch)
  for path in apply(url, branch):
    print("rewrote", path.relative_to(ROOT))
  return 0


if __name__ == "__main__":
  sys.exit(main())
