"""``python -m dynloss_book`` (from the ``book/`` folder): see :mod:`dynloss_book.cli`."""

import sys

from dynloss_book.cli import main

sys.exit(main())
