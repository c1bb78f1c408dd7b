"""Collection rules for the main test run.

tests/nt_reference compares the library's NTK with neural-tangents, which needs its own
pinned environment (requirements-nt.txt); scripts/run_nt_tests.sh runs it there with
DYNLOSS_NT_TESTS=1. The main environment never collects it.
"""

import os

collect_ignore = [] if os.environ.get("DYNLOSS_NT_TESTS") == "1" else ["nt_reference"]
