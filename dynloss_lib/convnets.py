r"""Convolutional networks for CIFAR-10: Myrtle5 and a Wide ResNet.

Both take normalised NHWC images and return ``(N, classes)``
logits in float32. ``dtype`` is the computation dtype (``float32`` or
``bfloat16``); parameters are always ``param_dtype`` (float32 by default: the
library enables JAX's float64 mode, so the dtypes are explicit here).
"""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from dynloss_lib import checks

_HE = nn.initializers.variance_scaling(2.0, "fan_in", "normal")


class Myrtle5(nn.Module):
  """Myrtle5 (Shankar et al. 2020; Page's "Myrtle" network without batch norm).

  ``[conv3x3-ReLU] x 2, avgpool 2, conv3x3-ReLU, avgpool 2, conv3x3-ReLU,
  avgpool 2 x 3 (to 1x1), dense``: four convolutions of ``width`` channels and
  a dense layer. He-normal weights, zero biases.

  Attributes:
    width: channels of every convolution (the paper's 64).
    num_classes: logits.
    dtype: computation dtype.
    param_dtype: parameter dtype.
  """
  width: int = 64
  num_classes: int = 10
  dtype: Any = jnp.float32
  param_dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, train: bool = False):
    del train  # no batch norm or dropout
    conv = lambda: nn.Conv(self.width, (3, 3), padding="SAME", kernel_init=_HE,
                           dtype=self.dtype, param_dtype=self.param_dtype)
    pool = lambda h: nn.avg_pool(h, (2, 2), strides=(2, 2))
    x = x.astype(self.dtype)
    x = nn.relu(conv()(x))
    x = pool(nn.relu(conv()(x)))
    x = pool(nn.relu(conv()(x)))
    x = nn.relu(conv()(x))
    for _ in range(3):
      x = pool(x)
    x = x.reshape(x.shape[0], -1)
    logits = nn.Dense(self.num_classes, dtype=self.dtype, param_dtype=self.param_dtype)(x)
    return logits.astype(jnp.float32)


class _WideBlock(nn.Module):
  channels: int
  stride: int
  dtype: Any
  param_dtype: Any

  @nn.compact
  def __call__(self, x, train):
    norm = lambda: nn.BatchNorm(use_running_average=not train, momentum=0.9, epsilon=1e-5,
                                dtype=self.dtype, param_dtype=self.param_dtype)
    conv = lambda stride: nn.Conv(self.channels, (3, 3), (stride, stride), padding="SAME",
                                  use_bias=False, kernel_init=_HE, dtype=self.dtype,
                                  param_dtype=self.param_dtype)
    h = nn.relu(norm()(x))
    shortcut = x
    if x.shape[-1] != self.channels or self.stride != 1:
      shortcut = nn.Conv(self.channels, (1, 1), (self.stride, self.stride), use_bias=False,
                         kernel_init=_HE, dtype=self.dtype, param_dtype=self.param_dtype)(h)
    h = conv(self.stride)(h)
    h = conv(1)(nn.relu(norm()(h)))
    return h + shortcut


class WideResNet(nn.Module):
  """Wide ResNet WRN-depth-k (Zagoruyko and Komodakis 2016), pre-activation.

  A 3x3 convolution of 16 channels, three groups of ``(depth - 4) / 6`` basic
  blocks with ``16k, 32k, 64k`` channels (strides 1, 2, 2), batch norm, ReLU,
  global average pooling and a dense layer. Batch-norm statistics live in the
  ``batch_stats`` collection: call with ``train=True`` and
  ``mutable=["batch_stats"]`` while training.

  Attributes:
    depth: ``6 n + 4`` (10, 16, 22, 28, ...).
    widen_factor: :math:`k`.
    num_classes: logits.
    dtype: computation dtype.
    param_dtype: parameter dtype.
  """
  depth: int = 16
  widen_factor: int = 4
  num_classes: int = 10
  dtype: Any = jnp.float32
  param_dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, train: bool = False):
    blocks = (self.depth - 4) // 6
    x = nn.Conv(16, (3, 3), padding="SAME", use_bias=False, kernel_init=_HE,
                dtype=self.dtype, param_dtype=self.param_dtype)(x.astype(self.dtype))
    for group, channels in enumerate((16, 32, 64)):
      for block in range(blocks):
        stride = 2 if group > 0 and block == 0 else 1
        x = _WideBlock(channels * self.widen_factor, stride, self.dtype,
                       self.param_dtype)(x, train)
    x = nn.BatchNorm(use_running_average=not train, momentum=0.9, epsilon=1e-5,
                     dtype=self.dtype, param_dtype=self.param_dtype)(x)
    x = jnp.mean(nn.relu(x), axis=(1, 2))
    logits = nn.Dense(self.num_classes, dtype=self.dtype, param_dtype=self.param_dtype)(x)
    return logits.astype(jnp.float32)


DTYPES = {"float32": jnp.float32, "bfloat16": jnp.bfloat16}


def _myrtle5(width, depth, widen_factor, num_classes, dtype):
  checks.integer("width", width)
  return Myrtle5(width, num_classes, dtype, jnp.float32)


def _wide_resnet(width, depth, widen_factor, num_classes, dtype):
  checks.integer("widen_factor", widen_factor)
  if isinstance(depth, bool) or not isinstance(depth, int) or depth < 10 or (depth - 4) % 6:
    raise ValueError(f"a Wide ResNet's depth must be 6 n + 4 with n >= 1, got {depth=}")
  return WideResNet(depth, widen_factor, num_classes, dtype, jnp.float32)


MODELS = {"myrtle5": _myrtle5, "wrn": _wide_resnet}
"""Name -> builder ``(width, depth, widen_factor, num_classes, dtype) -> module``: the one
table of CIFAR networks (configs and the CLI's ``--model`` take their names from it); a new
model is one builder and one entry."""


def build(model: str = "myrtle5", *, width: int = 64, depth: int = 16, widen_factor: int = 4,
          num_classes: int = 10, dtype: str = "float32") -> nn.Module:
  """Build the CIFAR network named ``model`` (:data:`MODELS`), checking its arguments.

  Args:
    model: a name of :data:`MODELS`.
    width: Myrtle5 channels.
    depth: Wide ResNet depth, ``6 n + 4``.
    widen_factor: Wide ResNet widening factor.
    num_classes: logits.
    dtype: computation dtype, ``"float32"`` or ``"bfloat16"`` (parameters
      stay float32).

  Returns:
    A flax module.

  Examples:
    >>> net = build("myrtle5", width=4)
    >>> variables = net.init(jax.random.PRNGKey(0), jnp.zeros((2, 32, 32, 3)))
    >>> net.apply(variables, jnp.zeros((2, 32, 32, 3))).shape
    (2, 10)
    >>> build("wrn", depth=15)
    Traceback (most recent call last):
    ...
    ValueError: a Wide ResNet's depth must be 6 n + 4 with n >= 1, got depth=15
  """
  checks.one_of("model", model, MODELS)
  checks.one_of("dtype", dtype, DTYPES)
  checks.integer("num_classes", num_classes, minimum=2)
  return MODELS[model](width, depth, widen_factor, num_classes, DTYPES[dtype])
