r"""Landscape analysis: Hessian and NTK spectra, and the onset of instabilities.

Everything works on a pytree of parameters (a flax ``params`` dict), flattened
with :func:`jax.flatten_util.ravel_pytree`, and is traceable, so that the
measurements run inside the compiled training scan as :class:`training.Probe`
objects (see :func:`hessian_probe`, :func:`ntk_probe`, :func:`class_loss_probe`).

* Hessian: the top eigenvalues of :math:`\nabla^2_\theta F_\Gamma` by Lanczos
  with full reorthogonalisation on Hessian-vector products computed
  forward-over-reverse, :math:`Hv = \partial_\epsilon \nabla F(\theta + \epsilon v)`.
* NTK: the empirical neural tangent kernel
  :math:`\Theta_{ia,jb} = \sum_p \partial_p f_a(x_i)\, \partial_p f_b(x_j)`,
  by default averaged over the outputs (:math:`\frac1C \sum_a \Theta_{ia,ja}`,
  what the default ``trace_axes=(-1,)`` of ``neural_tangents.empirical_ntk_fn``
  computes, and so what the reference plotted); :math:`\lambda_{\max}` by Lanczos.
* Per-class losses :math:`L_c = \partial F_\Gamma / \partial \Gamma_c`
  (:func:`class_losses`), from which the book finds the onsets of instabilities
  (``dynloss_book.onsets``).
"""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from dynloss_lib import checks, losses, training


def hessian_vector_product(loss_fn: Callable, params, vector):
  r"""Hessian-vector product, forward-over-reverse.

  .. math::
    H v = \frac{d}{d\epsilon} \nabla L(\theta + \epsilon v) \Big|_{\epsilon = 0}

  Args:
    loss_fn: ``loss_fn(params) -> scalar``.
    params: the point :math:`\theta` (a pytree).
    vector: :math:`v`, a pytree shaped like ``params``.

  Returns:
    :math:`Hv`, shaped like ``params``.

  Examples:
    >>> loss_fn = lambda w: 0.5 * (3.0 * w[0] ** 2 + w[0] * w[1])
    >>> hessian_vector_product(loss_fn, jnp.ones(2), jnp.array([1.0, 0.0]))
    Array([3. , 0.5], dtype=float64)
  """
  return jax.jvp(jax.grad(loss_fn), (params,), (vector,))[1]


def lanczos_eigenvalues(matvec: Callable, start, order: int):
  r"""Ritz values of a symmetric operator by ``order`` Lanczos steps.

  Builds an orthonormal basis :math:`V = (v_1, \dots, v_m)` of the Krylov space
  :math:`\mathcal K_m(H, v_1)` (re-orthogonalised against all previous vectors,
  twice, so it stays orthogonal in floating point) and the tridiagonal
  :math:`T = V^\top H V`; its eigenvalues (Ritz values) approximate the extreme
  eigenvalues of :math:`H` from inside, and equal all of them when
  :math:`m` is the dimension.

  Args:
    matvec: ``matvec(v) -> H v`` on flat vectors.
    start: the nonzero start vector (normalised here).
    order: :math:`m`, the number of Lanczos steps, ``2 <= m <= start.size``.

  Returns:
    The ``order`` Ritz values, largest first.

  Examples:
    >>> h = jnp.diag(jnp.array([4.0, 1.0, -2.0]))
    >>> lanczos_eigenvalues(lambda v: h @ v, jnp.ones(3), order=3).round(8)
    Array([ 4.,  1., -2.], dtype=float64)
  """
  dim = int(np.prod(np.shape(start)))
  checks.integer("order", order, minimum=2)
  if order > dim:
    raise ValueError(f"the Lanczos order cannot exceed the dimension {dim} "
                     f"(the number of parameters), got {order=}")
  start = jnp.ravel(start)
  basis = jnp.zeros((order, dim), start.dtype).at[0].set(start / jnp.linalg.norm(start))

  def orthogonalise(w, basis):
    for _ in range(2):
      w = w - basis.T @ (basis @ w)
    return w

  def step(j, state):
    basis, alphas, betas, scale = state
    v = basis[j]
    w = matvec(v)
    alpha = jnp.vdot(v, w)
    w = orthogonalise(w, basis)  # rows > j are still zero
    beta = jnp.linalg.norm(w)
    # On breakdown (beta ~ 0 next to the largest |alpha| or beta so far: rounding noise left
    # in a null space counts) any unit vector orthogonal to the basis continues it.
    scale = jnp.maximum(scale, jnp.abs(alpha))
    safe = beta > 1e-12 * scale + 1e-300

    def restart(w):  # computed only on breakdown (a cond, not a select: it costs kernels)
      fallback = orthogonalise(jnp.sin(jnp.arange(dim, dtype=w.dtype) * (j + 1.7)), basis)
      return fallback / jnp.linalg.norm(fallback)
    w = jax.lax.cond(safe, lambda w: w / beta, restart, w)
    beta = jnp.where(safe, beta, 0.0)
    basis = jnp.where(j + 1 < order, basis.at[jnp.minimum(j + 1, order - 1)].set(w), basis)
    return basis, alphas.at[j].set(alpha), betas.at[j].set(beta), jnp.maximum(scale, beta)

  zeros = jnp.zeros(order, start.dtype)
  _, alphas, betas, _ = jax.lax.fori_loop(0, order, step, (basis, zeros, zeros, zeros[0]))
  tridiagonal = jnp.diag(alphas) + jnp.diag(betas[:-1], 1) + jnp.diag(betas[:-1], -1)
  return jnp.linalg.eigvalsh(tridiagonal)[::-1]


def hessian_top_eigenvalues(loss_fn: Callable, params, order: int = 10, count: int = 1,
                            seed: int = 0):
  r"""Top eigenvalues of the Hessian of ``loss_fn`` at ``params`` by Lanczos.

  .. math::
    \lambda_1 \ge \lambda_2 \ge \dots \quad \text{of} \quad
    H = \nabla^2_\theta L(\theta)

  (largest *algebraic* values: :math:`\lambda_1` is :math:`\lambda_{\max}`, the
  quantity GD's stability :math:`\lambda_{\max} < 2/\eta` refers to). The start
  vector is a fixed Gaussian draw from ``seed``, so repeated calls agree.

  Args:
    loss_fn: ``loss_fn(params) -> scalar``.
    params: a pytree of parameters.
    order: Lanczos steps, ``2 <= order <=`` number of parameters.
    count: how many of the top Ritz values to return, ``1 <= count <= order``.
    seed: seed of the start vector.

  Returns:
    ``(count,)`` Ritz values, largest first.

  Examples:
    >>> loss_fn = lambda p: 2.0 * p["a"][0] ** 2 + 0.5 * (p["a"][1] - p["b"]) ** 2
    >>> params = {"a": jnp.zeros(2), "b": jnp.zeros(())}
    >>> hessian_top_eigenvalues(loss_fn, params, order=3, count=2).round(8)
    Array([4., 2.], dtype=float64)
  """
  flat, unravel = ravel_pytree(params)
  checks.integer("order", order, minimum=2)
  checks.integer("count", count, minimum=1, maximum=order, note="the Lanczos order")
  start = jax.random.normal(jax.random.PRNGKey(seed), flat.shape, flat.dtype)
  # Linearised once: every Lanczos step reuses the gradient's forward and backward passes.
  _, matvec = jax.linearize(jax.grad(lambda w: loss_fn(unravel(w))), flat)
  return lanczos_eigenvalues(matvec, start, order)[:count]


def empirical_ntk(apply_fn: Callable, params, x, trace_outputs: bool = True):
  r"""The empirical neural tangent kernel of ``apply_fn`` on the samples ``x``.

  .. math::
    \Theta_{ia,jb} = \sum_p \frac{\partial f_a(x_i)}{\partial \theta_p}
                             \frac{\partial f_b(x_j)}{\partial \theta_p}

  Args:
    apply_fn: ``apply_fn(params, x) -> (N, C)`` outputs.
    params: a pytree of parameters.
    x: ``(N, ...)`` inputs, ``N >= 1``.
    trace_outputs: if True (default) return the ``(N, N)`` kernel averaged
      over the outputs, :math:`\frac1C \sum_a \Theta_{ia,ja}` (``neural_tangents``'
      ``trace_axes=(-1,)``, which normalises its trace by the dimension); if False
      the full ``(N C, N C)`` kernel with row index ``i * C + a`` (``trace_axes=()``
      transposed to ``(N, C, N, C)``).

  Returns:
    The kernel matrix (symmetric, positive semi-definite).

  Examples:
    >>> apply_fn = lambda w, x: x @ w  # linear model: Theta = (x x^T) (x) I_C
    >>> x = jnp.array([[1.0, 2.0], [0.0, 1.0]])
    >>> empirical_ntk(apply_fn, jnp.zeros((2, 3)), x)
    Array([[5., 2.],
           [2., 1.]], dtype=float64)
    >>> empirical_ntk(apply_fn, jnp.zeros((2, 3)), x, trace_outputs=False).shape
    (6, 6)
  """
  blocks, divisor = _jacobian_blocks(apply_fn, params, x, trace_outputs)
  return sum(block.T @ block for block in blocks) / divisor


def _jacobian_blocks(apply_fn, params, x, trace_outputs):
  """Transposed per-sample Jacobian, a block per leaf: kernel = sum B^T B / divisor."""
  x = jnp.asarray(x)
  if x.ndim == 0 or x.shape[0] == 0:
    raise ValueError(f"the NTK needs at least one sample, got x of shape {x.shape}")
  per_sample = lambda p, xi: apply_fn(p, xi[None])[0]
  leaves = jax.tree_util.tree_leaves(jax.vmap(jax.jacrev(per_sample), in_axes=(None, 0),
                                              out_axes=-1)(params, x))  # (C, *leaf, N)
  c, n = leaves[0].shape[0], leaves[0].shape[-1]
  if trace_outputs:  # column i holds every output's gradient: B^T B sums over both
    return [leaf.reshape(-1, n) for leaf in leaves], c
  return [jnp.moveaxis(leaf, 0, -1).reshape(-1, n * c) for leaf in leaves], 1


def ntk_top_eigenvalue(apply_fn: Callable, params, x, trace_outputs: bool = True,
                       order: int | None = None):
  r"""Largest eigenvalue of :func:`empirical_ntk`, dense or by Lanczos.

  .. math::
    \Theta v = J (J^\top v) \quad \text{(traced: } \tfrac1C \textstyle\sum_a J_a (J_a^\top v))

  ``order=None`` solves the dense kernel; an integer runs that many
  :func:`lanczos_eigenvalues` steps from the all-ones vector on these products with
  the per-sample Jacobian :math:`J`, never forming :math:`\Theta`: a lower bound,
  exact once ``order`` reaches the kernel's size (it is cut to it); on the Fig. 4
  run (first 50 points, traced) order 6 is within 3e-9 of dense at all 70,000 steps.

  Args:
    apply_fn: ``apply_fn(params, x) -> (N, C)``.
    params: a pytree of parameters.
    x: ``(N, ...)`` inputs.
    trace_outputs: see :func:`empirical_ntk`.
    order: None (dense) or the number of Lanczos steps, an integer >= 2.

  Returns:
    Scalar :math:`\lambda_{\max}(\Theta)`.

  Examples:
    >>> apply_fn = lambda w, x: x @ w
    >>> x = jnp.array([[1.0, 0.0], [0.0, 2.0]])
    >>> float(ntk_top_eigenvalue(apply_fn, jnp.zeros((2, 3)), x))
    4.0
    >>> float(ntk_top_eigenvalue(apply_fn, jnp.zeros((2, 3)), x, order=2).round(12))
    4.0
  """
  if order is not None:
    checks.integer("order", order, minimum=2)
  blocks, divisor = _jacobian_blocks(apply_fn, params, x, trace_outputs)
  return _largest_eigenvalue(lambda: sum(b.T @ b for b in blocks) / divisor,
                             lambda v: sum((b @ v) @ b for b in blocks) / divisor,
                             blocks[0].shape[1], blocks[0].dtype, order)


def _largest_eigenvalue(kernel: Callable, matvec: Callable, size: int, dtype, order):
  """lambda_max of a PSD kernel: dense (``order`` None, or one point) or by Lanczos
  from the all-ones vector, ``order`` cut to ``size``."""
  if order is None or size == 1:
    return jnp.linalg.eigvalsh(kernel())[-1]
  return lanczos_eigenvalues(matvec, jnp.ones(size, dtype), min(order, size))[0]


def hessian_probe(apply_fn: Callable, x, y, *, order: int = 10, every: int = 25,
                  seed: int = 0,
                  loss: Callable = losses.dynamical_cross_entropy) -> training.Probe:
  r"""In-loop measurement of :math:`\lambda_{\max}` of the dynamical loss's Hessian.

  At a recorded step with class weights :math:`\Gamma` it returns the top
  Lanczos Ritz value of :math:`\nabla^2_\theta F_\Gamma(\theta)`, with
  :math:`F_\Gamma` the dynamical loss ``loss`` over all of ``(x, y)``.

  Args:
    apply_fn: ``apply_fn(params, x) -> logits``.
    x, y: the training set the loss is computed on.
    loss: the dynamical loss ``loss(outputs, labels, class_weights)`` (default
      the paper's cross-entropy; see :data:`dynloss_lib.losses.DYNAMICAL_LOSSES`).
    order: Lanczos order (>= 2, at most the number of parameters; checked at the
      first call, when the parameters are known).
    every: measure every ``every`` records (>= 1); NaN in between.
    seed: seed of the Lanczos start vector.

  Returns:
    A :class:`training.Probe` whose value is a scalar.

  Examples:
    >>> hessian_probe(lambda p, x: x, jnp.zeros((1, 2)), jnp.zeros(1, int), every=0)
    Traceback (most recent call last):
    ...
    ValueError: every must be an integer >= 1, got every=0
  """
  checks.integer("every", every, minimum=1)
  checks.integer("order", order, minimum=2)
  x, y = jnp.asarray(x), jnp.asarray(y)

  def fn(params, gamma):
    loss_fn = lambda p: loss(apply_fn(p, x), y, gamma)
    return hessian_top_eigenvalues(loss_fn, params, order, 1, seed)[0]

  return training.Probe(fn, every=int(every))


def ntk_probe(apply_fn: Callable, x_subset, *, every: int = 1, trace_outputs: bool = True,
              order: int | None = 6, kernel_fn: Callable | None = None) -> training.Probe:
  r"""In-loop measurement of :math:`\lambda_{\max}` of the empirical NTK on ``x_subset``.

  Args:
    apply_fn: ``apply_fn(params, x) -> logits``.
    x_subset: ``(N, ...)`` inputs, ``N >= 1`` (Fig. 4: the first 50 points).
    every: measure every ``every`` records (>= 1).
    trace_outputs: see :func:`empirical_ntk`.
    order: Lanczos steps of :func:`ntk_top_eigenvalue` (>= 2), None for the dense solve.
    kernel_fn: ``kernel_fn(params, x) -> (N, N)``, the trace-averaged kernel in closed form
      (e.g. ``functools.partial(models.mlp_ntk, model)``); the Lanczos steps then multiply
      by it.

  Returns:
    A :class:`training.Probe` whose value is a scalar.

  Examples:
    >>> ntk_probe(lambda p, x: x, jnp.zeros((0, 2)))
    Traceback (most recent call last):
    ...
    ValueError: the NTK subset is empty, got x_subset of shape (0, 2)
  """
  checks.integer("every", every, minimum=1)
  if order is not None:
    checks.integer("order", order, minimum=2)
  x_subset = jnp.asarray(x_subset)
  if x_subset.ndim == 0 or x_subset.shape[0] == 0:
    raise ValueError(f"the NTK subset is empty, got x_subset of shape {x_subset.shape}")
  if kernel_fn is None:
    fn = lambda params, gamma: ntk_top_eigenvalue(apply_fn, params, x_subset, trace_outputs,
                                                  order)
  else:
    if not trace_outputs:
      raise ValueError("kernel_fn gives the trace-averaged kernel; got trace_outputs=False")
    def fn(params, gamma):
      kernel = kernel_fn(params, x_subset)
      return _largest_eigenvalue(lambda: kernel, lambda v: kernel @ v, kernel.shape[0],
                                 kernel.dtype, order)
  return training.Probe(fn, every=int(every))


def class_losses(apply_fn: Callable, params, x, y, num_classes: int,
                 loss=losses.dynamical_cross_entropy):
  r"""Per-class loss terms :math:`L_c = \partial F_\Gamma / \partial \Gamma_c`, so that
  :math:`F_\Gamma = \sum_c \Gamma_c L_c`.

  Every dynamical loss is linear in :math:`\Gamma`, so its gradient in :math:`\Gamma`
  does not depend on :math:`\Gamma` and decomposes it exactly: for the cross-entropy
  :math:`L_c = \frac1N \sum_{j:\, y_j = c} \ell(f(x_j), c)`; for ``dmse_output``,
  output :math:`c`'s squared error over all samples.

  Args:
    apply_fn: ``apply_fn(params, x) -> logits``.
    params: parameters.
    x, y: the training set (``N`` samples).
    num_classes: :math:`C`.
    loss: the dynamical loss, by name or function.

  Returns:
    ``(C,)`` array.

  Examples:
    >>> apply_fn = lambda w, x: x @ w
    >>> x = jnp.eye(2); y = jnp.array([0, 1])
    >>> class_losses(apply_fn, jnp.zeros((2, 2)), x, y, 2).round(6)
    Array([0.346574, 0.346574], dtype=float64)
  """
  return _class_losses_of(apply_fn(params, x), y, num_classes, loss)


def _class_losses_of(outputs, y, num_classes: int, loss):
  loss = losses.dynamical_loss(loss)
  return jax.grad(lambda w: loss(outputs, y, w))(jnp.ones(num_classes, outputs.dtype))


def class_loss_probe(y, num_classes: int,
                     loss=losses.dynamical_cross_entropy) -> training.Probe:
  """In-loop :func:`class_losses` at every record (for the book's onsets, ``dynloss_book.onsets``).

  It reads the outputs on the training set that the recorded step computes anyway
  (``reads="outputs"``), so it costs no second forward pass.

  Args:
    y: the training set's labels.
    num_classes: :math:`C`.
    loss: the dynamical loss, by name or function.

  Returns:
    A :class:`training.Probe` whose value has shape ``(C,)``.

  Examples:
    >>> probe = class_loss_probe(jnp.array([0, 1]), 2)
    >>> probe.every, probe.reads, probe.fn(jnp.zeros((2, 2)), None).round(6).tolist()
    (1, 'outputs', [0.346574, 0.346574])
  """
  y = jnp.asarray(y)
  return training.Probe(lambda outputs, gamma: _class_losses_of(outputs, y, num_classes, loss),
                        reads="outputs")
