"""``python -m dynloss_lib``: see :mod:`dynloss_lib.cli`."""

import sys

from dynloss_lib.cli import main

sys.exit(main())
