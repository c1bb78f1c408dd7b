"""pytest at the repository root: the doctests and unit tests run with JAX's 64-bit mode.

The library itself never changes a JAX setting (see dynloss_lib/__init__.py); the
notebooks and the CLI enable the mode explicitly, and so do the tests, here.
"""

import os
import sys
from pathlib import Path

import jax

jax.config.update("jax_enable_x64", True)

# The book's code (book/dynloss_book) is imported as the chapters import it: from book/.
sys.path.insert(0, str(Path(__file__).resolve().parent / "book"))

# Tests and the notebooks they run (nbval) load the book's stored results and never compute
# into book/results: a missing result there is an error naming it (dynloss_book.store).
os.environ.setdefault("DYNLOSS_STORED_ONLY", "1")
