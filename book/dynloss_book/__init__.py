"""dynloss_book: the code that produces, stores and shows the book's results.

It lives with the book, beside the chapters: a chapter (working folder ``book/``) imports
it as ``dynloss_book``, with nothing installed but the library, ``dynloss_lib``. The
studies, the results store (:mod:`dynloss_book.store`), statistics, plotting and the
command that recomputes or checks the stored results (``python -m dynloss_book
regenerate``, from ``book/``) are here.
"""

from pathlib import Path

RESULTS = Path(__file__).resolve().parents[1] / "results"
"""The book's stored results (``book/results``), wherever the command is run from."""
