"""dynloss_lib: dynamical loss functions (Ruiz-Garcia et al., ICML 2021) in JAX.

Importing the package enables JAX's float64 mode: the spiral experiments are
float64, as in the paper. Pass ``dtype=jnp.float32`` where you want float32
(for example large grids on a GPU).
"""

import jax

jax.config.update("jax_enable_x64", True)

__version__ = "0.1.0"
