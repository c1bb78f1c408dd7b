r"""Models: the one-hidden-layer MLP of the spiral experiments.

Two initialisations:

* ``"paper"`` (2021, neural-tangents' standard parameterisation at the time):
  :math:`W \sim \mathcal N(0, 1/\text{fan\_in})`, biases trainable and
  initialised to zero. Use it for the paper's claims.
* ``"glorot"`` (the authors' July 2022 notebook update): Glorot-normal weights
  and :math:`b \sim \mathcal N(0, 0.01^2)`. With it the static loss also fits
  the spiral at width 100, so it cannot show the paper's claim.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from dynloss_lib import checks

INITS = ("paper", "glorot")


def _initializers(init: str):
  if init == "paper":
    return nn.initializers.variance_scaling(1.0, "fan_in", "normal"), nn.initializers.zeros
  if init == "glorot":
    return nn.initializers.glorot_normal(), nn.initializers.normal(stddev=0.01)
  raise ValueError(f"init must be one of {INITS}, got {init=}")


class MLP(nn.Module):
  """Dense(width) - ReLU - Dense(num_classes).

  Attributes:
    width: hidden units.
    num_classes: outputs (logits).
    init_scheme: ``"paper"`` or ``"glorot"`` (see the module docstring).
    use_bias: False drops the biases, as neural-tangents' Dense did from late
      2021 (the change that broke the authors' notebook).
    param_dtype: parameter dtype; flax defaults to float32 even in x64 mode,
      so it is explicit here.
  """
  width: int = 100
  num_classes: int = 3
  init_scheme: str = "paper"
  param_dtype: jnp.dtype = jnp.float64
  use_bias: bool = True

  LAYERS = ("Dense_0", "Dense_1")
  """The names of the hidden layer and the readout in the parameters."""

  def layers(self, params) -> tuple[dict, dict]:
    """The hidden layer's and the readout's parameters (``kernel``, and ``bias`` if used).

    Examples:
      >>> model = mlp(width=4)
      >>> hidden, readout = model.layers(model.init(jax.random.PRNGKey(0), jnp.zeros((1, 2))))
      >>> hidden["kernel"].shape, readout["kernel"].shape
      ((2, 4), (4, 3))
    """
    return tuple(params["params"][name] for name in self.LAYERS)

  @nn.compact
  def __call__(self, x):
    kernel_init, bias_init = _initializers(self.init_scheme)
    dense = lambda n: nn.Dense(n, use_bias=self.use_bias, kernel_init=kernel_init,
                               bias_init=bias_init, param_dtype=self.param_dtype,
                               dtype=self.param_dtype)
    hidden = nn.relu(dense(self.width)(x))  # Dense_0: the hidden layer
    return dense(self.num_classes)(hidden)  # Dense_1: the readout


def mlp(width: int = 100, num_classes: int = 3, init: str = "paper",
        dtype=jnp.float64, use_bias: bool = True) -> MLP:
  """Build the spiral MLP, checking its arguments.

  Args:
    width: hidden units, >= 1.
    num_classes: outputs, >= 2.
    init: ``"paper"`` or ``"glorot"``.
    dtype: parameter and computation dtype.
    use_bias: False for the bias-free MLP.

  Returns:
    A flax ``MLP`` module.

  Examples:
    >>> model = mlp(width=4)
    >>> params = model.init(jax.random.PRNGKey(0), jnp.zeros((1, 2)))
    >>> jax.tree_util.tree_map(jnp.shape, params)["params"]["Dense_0"]
    {'bias': (4,), 'kernel': (2, 4)}
    >>> float(jnp.abs(params["params"]["Dense_1"]["bias"]).max())
    0.0
  """
  checks.integer("width", width)
  checks.integer("num_classes", num_classes, minimum=2)
  _initializers(init)
  require_dtype(dtype)
  return MLP(width=width, num_classes=num_classes, init_scheme=init, param_dtype=dtype,
             use_bias=use_bias)


def mlp_ntk(model: MLP, params, x):
  r"""The empirical NTK of the biased MLP in closed form, averaged over its outputs.

  For :math:`f_a(x) = \sum_k W^{(2)}_{ka} h_k(x) + b^{(2)}_a` with
  :math:`h = \operatorname{relu}(z)`, :math:`z = x W^{(1)} + b^{(1)}`, the derivatives
  are outer products, so

  .. math::
    \Theta_{ij} = h(x_i) \cdot h(x_j) + 1
      + \sum_k s_k\, [z_k(x_i) > 0]\, [z_k(x_j) > 0]\, (x_i \cdot x_j + 1),
    \qquad s_k = \tfrac1C \textstyle\sum_a (W^{(2)}_{ka})^2,

  which equals :func:`dynloss_lib.analysis.empirical_ntk` (the trace-averaged
  kernel) without building a per-sample Jacobian.

  Args:
    model: the :class:`MLP` (with biases).
    params: its parameters.
    x: ``(N, d)`` inputs.

  Returns:
    ``(N, N)`` kernel.

  Examples:
    >>> module = mlp(4)
    >>> params = module.init(jax.random.PRNGKey(0), jnp.zeros((1, 2)))
    >>> mlp_ntk(module, params, jnp.zeros((2, 2))).tolist()   # zero inputs and biases: b2 alone
    [[1.0, 1.0], [1.0, 1.0]]
  """
  if not model.use_bias:
    raise ValueError("mlp_ntk needs the biased MLP, got use_bias=False")
  hidden, readout = model.layers(params)
  w1, b1, w2 = hidden["kernel"], hidden["bias"], readout["kernel"]
  z = x @ w1 + b1
  active = (z > 0).astype(z.dtype)
  readout = jnp.mean(w2 ** 2, axis=1)
  return jax.nn.relu(z) @ jax.nn.relu(z).T + 1.0 + ((active * readout) @ active.T) * (x @ x.T + 1.0)


def require_dtype(dtype) -> None:
  """Raise a ValueError if ``dtype`` is 64-bit but JAX's x64 mode is off.

  Without x64, JAX silently computes in 32 bits; the paper's runs are float64.
  The library never switches the mode itself (it is a process-wide setting).

  Examples:
    >>> require_dtype(jnp.float32)
  """
  if jnp.dtype(dtype).itemsize == 8 and not jax.config.jax_enable_x64:
    raise ValueError(f"dtype={jnp.dtype(dtype).name} needs JAX's 64-bit mode: run "
                     "jax.config.update('jax_enable_x64', True) before any JAX computation")


def count_params(params) -> int:
  """Number of scalar parameters in a pytree.

  Args:
    params: a pytree of arrays.

  Returns:
    The total size.

  Examples:
    >>> count_params({"a": jnp.zeros((2, 3)), "b": jnp.zeros(4)})
    10
  """
  return sum(int(leaf.size) for leaf in jax.tree_util.tree_leaves(params))
