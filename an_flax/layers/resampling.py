"""2x nearest upsampling and 2x2 average pooling, and a 3x3 convolution fused with either,
computed at the lower of the two resolutions.

- Up: a 3x3 'SAME' convolution of a nearest-upsampled map sees, at each output pixel, a
  2x2 neighbourhood of the input, and the output pixels of one phase (row and column
  parity) share one 2x2 kernel whose taps are sums of the 3x3 kernel's. Four 2x2
  convolutions at the input's resolution give the 3x3 one at twice the resolution.
- Down: 2x2 average pooling of a 3x3 'SAME' convolution is one 4x4 convolution of stride 2
  whose taps are averages of the 3x3 kernel's.
Both are the same function as the unfused pair with 4 instead of 9 taps per
high-resolution pixel (measured on a CPU: half the forward time, about two thirds of
forward + backward). The SN-GAN / SA-GAN generators' first convolution of every up-block
and the discriminators' second convolution of every down-block have these forms.
"""

from typing import Any, Callable

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

_DIMENSIONS = ("NHWC", "HWIO", "NHWC")
# Phase p, its 2 taps at the input's resolution, the 3 taps of the 3x3 kernel: phase 0
# (even output rows) reads input rows i-1, i with kernel rows (0), (1 + 2); phase 1 (odd
# rows) reads rows i, i+1 with kernel rows (0 + 1), (2). Columns alike.
_PHASE_TAPS = np.array([[[1, 0, 0], [0, 1, 1]], [[1, 1, 0], [0, 0, 1]]], np.float32)
# The 4 taps of the pooled kernel along one axis: tap p = (k[p] + k[p - 1]) / 2.
_POOL_TAPS = np.array([[1, 0, 0], [1, 1, 0], [0, 1, 1], [0, 0, 1]], np.float32) / 2


def upsample_nearest(x: jax.Array) -> jax.Array:
  """2x nearest-neighbour upsampling of an NHWC map."""
  return jnp.repeat(jnp.repeat(x, 2, axis=1), 2, axis=2)


def avg_pool(x: jax.Array) -> jax.Array:
  """2x2 average pooling, stride 2, as a mean over reshaped windows: its gradient is a
  broadcast rather than the padded reduce-window XLA:CPU runs slowly."""
  n, h, w, c = x.shape
  return jnp.mean(x.reshape(n, h // 2, 2, w // 2, 2, c), axis=(2, 4))


def upsampled_conv3x3(x: jax.Array, kernel: jax.Array) -> jax.Array:
  """`conv(upsample_nearest(x), kernel)`, 3x3 'SAME', NHWC / HWIO, at the input's
  resolution."""
  n, h, w, _ = x.shape
  taps = jnp.asarray(_PHASE_TAPS, kernel.dtype)
  phases = jnp.einsum("api,bqj,ijco->abpqco", taps, taps, kernel)  # (2, 2, 2, 2, Ci, Co)
  rows = []
  for a in (0, 1):
    columns = [jax.lax.conv_general_dilated(
        jnp.pad(x, ((0, 0), (1 - a, a), (1 - b, b), (0, 0))), phases[a, b], (1, 1), "VALID",
        dimension_numbers=_DIMENSIONS) for b in (0, 1)]
    rows.append(jnp.stack(columns, axis=3))  # (N, H, W, 2: column phase, Co)
  return jnp.stack(rows, axis=2).reshape(n, 2 * h, 2 * w, -1)


def _stride2(x: jax.Array, kernel: jax.Array) -> jax.Array:
  return jax.lax.conv_general_dilated(x, kernel, (2, 2), "VALID",
                                      dimension_numbers=_DIMENSIONS)


@jax.custom_vjp
def _stride2_conv4x4(x: jax.Array, kernel: jax.Array) -> jax.Array:
  """A 4x4 'VALID' convolution of stride 2 whose input gradient runs at the output's
  resolution: XLA writes it as a convolution of the gradient dilated with zeros, four
  times the work (measured: five times the forward's time on a CPU)."""
  return _stride2(x, kernel)


def _stride2_forward(x, kernel):
  return _stride2(x, kernel), (x, kernel)


def _stride2_backward(residuals, g):
  x, kernel = residuals
  _, kernel_vjp = jax.vjp(lambda k: _stride2(x, k), kernel)
  # dx[2m + a, 2n + b] = sum over t, u in {0, 1} of kernel[a + 2t, b + 2u] . g[m - t, n - u]:
  # per input phase (a, b), a 2x2 convolution of g (padded by 1) with those taps, I/O swapped.
  padded = jnp.pad(g, ((0, 0), (1, 1), (1, 1), (0, 0)))
  rows = []
  for a in (0, 1):
    columns = [_conv_valid(padded, jnp.swapaxes(kernel[a::2][::-1, b::2][:, ::-1], 2, 3))
               for b in (0, 1)]  # taps (a + 2, a) x (b + 2, b)
    rows.append(jnp.stack(columns, axis=3))
  n, h, w, _ = x.shape
  dx = jnp.stack(rows, axis=2).reshape(n, h, w, -1)
  return dx, kernel_vjp(g)[0]


_stride2_conv4x4.defvjp(_stride2_forward, _stride2_backward)


def _conv_valid(x: jax.Array, kernel: jax.Array) -> jax.Array:
  return jax.lax.conv_general_dilated(x, kernel, (1, 1), "VALID",
                                      dimension_numbers=_DIMENSIONS)


def pooled_conv3x3(x: jax.Array, kernel: jax.Array) -> jax.Array:
  """`avg_pool(conv(x, kernel))`, 3x3 'SAME', NHWC / HWIO, at the output's resolution."""
  taps = jnp.asarray(_POOL_TAPS, kernel.dtype)
  pooled = jnp.einsum("pi,qj,ijco->pqco", taps, taps, kernel)  # (4, 4, Ci, Co)
  return _stride2_conv4x4(jnp.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0))), pooled)


class ResamplingConv(nn.Module):
  """`nn.Conv(features, (3, 3))` fused with 2x upsampling before it ('up') or 2x2 average
  pooling after it ('down'), with `nn.Conv`'s parameters (names, shapes, initialisers),
  so it is an `nn.Conv` in checkpoints."""

  features: int
  resample: str  # 'up' | 'down'
  use_bias: bool = True
  kernel_init: Any = nn.initializers.lecun_normal()
  bias_init: Any = nn.initializers.zeros
  dtype: Any = None
  param_dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    convolve: Callable[[jax.Array, jax.Array], jax.Array] = {
        "up": upsampled_conv3x3, "down": pooled_conv3x3}[self.resample]
    kernel = self.param("kernel", self.kernel_init, (3, 3, x.shape[-1], self.features),
                        self.param_dtype)
    bias = (self.param("bias", self.bias_init, (self.features,), self.param_dtype)
            if self.use_bias else None)
    x, kernel, bias = nn.dtypes.promote_dtype(x, kernel, bias, dtype=self.dtype)
    y = convolve(x, kernel)
    return y if bias is None else y + bias
