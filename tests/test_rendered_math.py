"""The book reads offline: math is rendered and no page loads anything from the network.

The book is built without executing the notebooks (their committed outputs) into a temporary
folder; every page is opened in headless Chromium with host-name resolution disabled, so only
files of the built book can load. Each page's DOM must hold one rendered MathJax element
(``mjx-container``) per math element of the page, and no raw TeX delimiters in its text.

Needs Debian's ``chromium`` (scripts/run_tests.sh installs it with apt-get when missing and
running as root). Without it these tests skip, except under CI=true, where they fail.
"""

import os
import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest
import yaml
from book_toc import markdown, toc_pages

ROOT = Path(__file__).resolve().parents[1]
BROWSERS = ("chromium", "chromium-browser", "google-chrome")


def find_browser():
  for name in BROWSERS:
    path = shutil.which(name)
    if path:
      return path
  message = (f"none of {BROWSERS} is installed: `apt-get install chromium` (scripts/run_tests.sh "
             f"does it when running as root)")
  if os.environ.get("CI") == "true":
    pytest.fail(message)
  pytest.skip(message)


@pytest.fixture(scope="module")
def built_book(tmp_path_factory):
  """The book's HTML, built from the committed notebook outputs (no execution)."""
  jupyter_book = shutil.which("jupyter-book", path=str(Path(sys.executable).parent))
  assert jupyter_book, "jupyter-book is not installed next to this python"
  out = tmp_path_factory.mktemp("book")
  config = yaml.safe_load((ROOT / "_config.yml").read_text())
  config["execute"]["execute_notebooks"] = "off"
  config_file = out / "_config.yml"
  config_file.write_text(yaml.safe_dump(config))
  command = [jupyter_book, "build", "--all", "--warningiserror", "--nitpick", "--keep-going",
             "--config", str(config_file), "--path-output", str(out), str(ROOT)]
  result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
  assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-5000:]
  return out / "_build" / "html"


def dump_dom(browser, page: Path, profile: Path) -> str:
  """The page's DOM after its scripts ran, with every host name unresolvable (offline)."""
  command = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
             f"--user-data-dir={profile}", "--host-resolver-rules=MAP * ~NOTFOUND",
             "--virtual-time-budget=20000", "--dump-dom", page.as_uri()]
  result = subprocess.run(command, capture_output=True, text=True, timeout=180)
  assert result.returncode == 0 and "<html" in result.stdout, result.stderr[-3000:]
  return result.stdout


class VisibleText(HTMLParser):
  """Text of a DOM outside code, scripts, styles and rendered math."""
  SKIP = {"pre", "code", "script", "style", "textarea", "mjx-container"}

  def __init__(self):
    super().__init__()
    self.depth = 0
    self.parts = []

  def handle_starttag(self, tag, attrs):
    if tag in self.SKIP:
      self.depth += 1

  def handle_endtag(self, tag):
    if tag in self.SKIP and self.depth:
      self.depth -= 1

  def handle_data(self, data):
    if not self.depth:
      self.parts.append(data)


def visible_text(dom: str) -> str:
  parser = VisibleText()
  parser.feed(dom)
  return "".join(parser.parts)


RAW_TEX = re.compile(r"\\\(|\\\)|\\\[|\\\]|\$\$")
MATH_ELEMENT = re.compile(r'<(?:span|div) class="math[ "]')
REMOTE = re.compile(r'<(?:img|script|link|iframe)\b[^>]*\b(?:src|href)="(?:https?:)?//[^"]+"')


def test_visible_text_finds_raw_tex_outside_code():
  # the check below must be able to fail: raw delimiters in text are found, code is ignored
  dom = "<p>a \\(x\\) b</p><pre>\\(kept\\)</pre><mjx-container>\\[y\\]</mjx-container>"
  assert RAW_TEX.findall(visible_text(dom)) == ["\\(", "\\)"]


@pytest.mark.parametrize("page", toc_pages())
def test_page_renders_math_offline(built_book, page, tmp_path):
  browser = find_browser()
  html_file = built_book / f"{page}.html"
  static = html_file.read_text()
  remote = REMOTE.findall(static)
  assert not remote, f"{page} loads from the network: {remote[:3]}"
  expected = len(MATH_ELEMENT.findall(static))
  dom = dump_dom(browser, html_file, tmp_path / "profile")
  rendered = dom.count("<mjx-container")
  assert rendered >= expected, (f"{page}: {rendered} rendered math elements for {expected} "
                                f"math elements (is MathJax loaded from the book?)")
  raw = RAW_TEX.findall(visible_text(dom))
  assert not raw, f"{page} shows raw TeX delimiters {raw[:5]}"


def _prose(page: str) -> str:
  path = ROOT / f"{page}.md"
  return markdown(path if path.exists() else ROOT / f"{page}.ipynb")


def test_every_page_with_math_renders_it(built_book):
  # so that the rendering test above cannot pass vacuously: every page whose prose has
  # $...$ math has MathJax elements, and most pages have math
  with_math = [page for page in toc_pages() if re.search(r"\$[^$\s][^$]*\$", _prose(page))]
  counts = {page: len(MATH_ELEMENT.findall((built_book / f"{page}.html").read_text()))
            for page in with_math}
  assert len(with_math) > len(toc_pages()) // 2, with_math
  assert all(counts.values()), counts


def test_pasted_values_read_as_text(built_book):
  # myst-nb sets every glued value in bold; the book's stylesheet, loaded after myst-nb's,
  # sets them in the weight of the text around them (a verdict is bold where the prose says so)
  page = (built_book / "book" / "intro.html").read_text()
  assert 'class="pasted-text"' in page
  sheets = re.findall(r'<link rel="stylesheet"[^>]*href="([^"]+)"', page)
  mystnb = next(i for i, href in enumerate(sheets) if "mystnb" in href)
  custom = next(i for i, href in enumerate(sheets) if "custom.css" in href)
  assert custom > mystnb, sheets
  css = (built_book / "_static" / "custom.css").read_text()
  assert re.search(r"span\.pasted-text\s*\{\s*font-weight:\s*inherit;", css)
