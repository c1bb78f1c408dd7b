"""Time every chapter executed from the stored results; write book/chapter_times.json.

Usage: python scripts/time_chapters.py   (from the repository root, in the book's environment)

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
times = {}
for page in toc_pages()[1:]:
  path = ROOT / f"{page}.ipynb"
  notebook = nbformat.read(path, as_version=4)
  start = time.perf_counter()
  nbclient.NotebookClient(notebook, timeout=1800, kernel_name="python3",
                          resources={"metadata": {"path": str(path.parent)}}).execute()
  times[path.stem] = round(time.perf_counter() - start, 1)
  print(f"{path.stem}: {times[path.stem]} s", flush=True)
(ROOT / "book" / "chapter_times.json").write_text(json.dumps(times, indent=1) + "\n")
