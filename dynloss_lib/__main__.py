"""``python -m dynloss_lib``: see :mod:`dynloss_lib.studies.cli`."""

import sys

from dynloss_lib.studies.cli import main

sys.exit(main())
