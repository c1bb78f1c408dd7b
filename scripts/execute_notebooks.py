"""Execute notebooks in place (cwd book/), so that their committed outputs are fresh.

Usage: python scripts/execute_notebooks.py book/NAME.ipynb [...]
Uses the same environment variables as the test command (PYTHONHASHSEED=0, MPLBACKEND=Agg).
"""

import os
import sys
from pathlib import Path

import nbclient
import nbformat

os.environ.update(PYTHONHASHSEED="0", MPLBACKEND="Agg")
for name in sys.argv[1:]:
  path = Path(name).resolve()
  notebook = nbformat.read(path, as_version=4)
  nbclient.NotebookClient(notebook, timeout=1800, kernel_name="python3",
                          resources={"metadata": {"path": str(path.parent)}}).execute()
  nbformat.write(notebook, path)
  print(f"executed {name}")
