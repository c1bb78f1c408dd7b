"""Time every chapter executed from the stored results; write book/chapter_times.json.

Usage: python scripts/time_chapters.py [NAME ...]   (from the repository root, in the book's
environment; with names, only those chapters are timed again and the others' times are kept)

The landing page quotes these times (each chapter glues its own); they were measured on the
machine that ran this script, with the stored results present (nothing is computed:
DYNLOSS_STORED_ONLY=1).
"""

import json
import os
import sys
import time
from pathlib import Path

import nbclient
import nbformat

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from book_toc import toc_pages  # noqa: E402

os.environ.update(PYTHONHASHSEED="0", MPLBACKEND="Agg", DYNLOSS_STORED_ONLY="1")
OUTPUT = ROOT / "book" / "chapter_times.json"
times = json.loads(OUTPUT.read_text()) if OUTPUT.exists() and sys.argv[1:] else {}
pages = [page for page in toc_pages()[1:] if not sys.argv[1:] or Path(page).name in sys.argv[1:]]
unknown = set(sys.argv[1:]) - {Path(page).name for page in pages}
if unknown:
  sys.exit(f"not chapters of the book: {sorted(unknown)}")
for page in pages:
  path = ROOT / f"{page}.ipynb"
  notebook = nbformat.read(path, as_version=4)
  start = time.perf_counter()
  nbclient.NotebookClient(notebook, timeout=1800, kernel_name="python3",
                          resources={"metadata": {"path": str(path.parent)}}).execute()
  times[path.stem] = round(time.perf_counter() - start, 1)
  print(f"{path.stem}: {times[path.stem]} s", flush=True)
OUTPUT.write_text(json.dumps(times, indent=1) + "\n")
