"""dynloss_lib: dynamical loss functions (Ruiz-Garcia et al., ICML 2021) in JAX.

Importing the package changes no global JAX setting. The spiral experiments are
float64, as in the paper: enable JAX's 64-bit mode first, in one visible line::

  import jax
  jax.config.update("jax_enable_x64", True)

Asking for float64 without it is a ValueError that says so (32 bits would
otherwise be used silently). The command line enables it itself.
"""

__version__ = "0.1.0"
