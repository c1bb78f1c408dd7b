"""pytest at the repository root: the doctests and unit tests run with JAX's 64-bit mode.

The library itself never changes a JAX setting (see dynloss_lib/__init__.py); the
notebooks and the CLI enable the mode explicitly, and so do the tests, here.
"""

import jax

jax.config.update("jax_enable_x64", True)
