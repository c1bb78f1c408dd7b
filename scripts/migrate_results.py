"""Rewrite stored results written in an older schema in the current one (dynloss_book.store).

Usage: python scripts/migrate_results.py [FOLDER ...]   (default: book/results)

Numbers and arrays are unchanged; only the file layout is (see store.SCHEMA).
"""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from dynloss_book import store  # noqa: E402

for folder in sys.argv[1:] or [os.path.join(os.path.dirname(__file__), "..", "book", "results")]:
  rewritten = store.migrate(folder)
  print(f"{folder}: {len(rewritten)} files rewritten in schema {store.SCHEMA}")
