"""PIL's 8-bit bicubic resize (`Image.resize(size, Image.BICUBIC)` of an RGB image) on the
device, bit for bit.

Pillow (src/libImaging/Resample.c) resizes separably, one axis per pass. An output pixel is
a weighted sum of input pixels under the bicubic filter (a = -0.5), widened by the scale
factor when downsizing (so it antialiases) and normalised to sum to 1 over the pixels
inside the image; the weights are then rounded to fixed point with 22 fractional bits, and
each pass adds 2^21, shifts right by 22 and clips to [0, 255], so the first pass's result is
uint8 again. Pillow 13 (our pin) runs the vertical pass first when the height shrinks by
more than twice as many pixels as the width (`ImagingResampleInner`); Pillow 12 and older,
dgm-eval's pin 9.2.0 among them, always start with the horizontal pass. The orders differ
only for images that much taller than wide, never for square ones.

Written by hand because `jax.image.resize` has neither the fixed-point rounding nor the
uint8 intermediate. The weights depend only on the sizes and are built on the host in
float64 as Pillow builds them; each pass is an exact int32 matrix product.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np

PRECISION_BITS = 22  # Resample.c: 32 - 8 - 2 (8 bits of pixel, 2 of headroom).
BICUBIC_SUPPORT = 2.0


def _bicubic(x: np.ndarray) -> np.ndarray:
  """Resample.c `bicubic_filter` (a = -0.5), evaluated in the same order."""
  a = -0.5
  x = np.abs(x)
  inner = ((a + 2.0) * x - (a + 3.0)) * x * x + 1
  outer = (((x - 5) * x + 8) * x - 4) * a
  return np.where(x < 1.0, inner, np.where(x < 2.0, outer, 0.0))


@functools.cache
def bicubic_weights(in_size: int, out_size: int) -> np.ndarray:
  """(out_size, in_size) float64 weights of Resample.c `precompute_coeffs` (no box)."""
  scale = in_size / out_size
  filterscale = max(scale, 1.0)
  support = BICUBIC_SUPPORT * filterscale
  inverse = 1.0 / filterscale  # Pillow multiplies by the reciprocal; so do we, to the last bit.
  weights = np.zeros((out_size, in_size))
  for i in range(out_size):
    center = (i + 0.5) * scale
    lo = max(int(center - support + 0.5), 0)  # int() truncates toward zero, as C's cast.
    hi = min(int(center + support + 0.5), in_size)
    w = _bicubic((np.arange(lo, hi) - center + 0.5) * inverse)
    total = np.cumsum(w)[-1]  # Left to right, as Pillow's loop adds (np.sum pairs them).
    weights[i, lo:hi] = w / total if total != 0.0 else w
  return weights


def fixed_point_weights(in_size: int, out_size: int) -> np.ndarray:
  """`bicubic_weights` in Resample.c `normalize_coeffs_8bpc`'s fixed point, as int32."""
  scaled = bicubic_weights(in_size, out_size) * (1 << PRECISION_BITS)
  return np.trunc(np.where(scaled < 0, scaled - 0.5, scaled + 0.5)).astype(np.int32)


def _round_to_uint8(sums: jax.Array) -> jax.Array:
  """Resample.c `clip8` of a pass's int32 sums plus its rounding term."""
  shifted = jnp.right_shift(sums + (1 << (PRECISION_BITS - 1)), PRECISION_BITS)  # floor
  return jnp.clip(shifted, 0, 255)


def vertical_first(height: int, width: int, size: int) -> bool:
  """Whether Pillow 13 resizes (height, width) -> (size, size) vertical pass first."""
  return height - size > 0 and height - size > 2 * (width - size)


def resize_bicubic_uint8(images: jax.Array, size: int) -> jax.Array:
  """uint8 NHWC images of any size -> uint8 (N, size, size, C), equal to PIL's resize.

  Sums stay below 2^31: 255 times the weights' absolute sum (under 1.3 in 2^22 units).
  """
  _, height, width, _ = images.shape
  rows = jnp.asarray(fixed_point_weights(height, size))
  cols = jnp.asarray(fixed_point_weights(width, size))

  def horizontal(x: jax.Array) -> jax.Array:
    return _round_to_uint8(jnp.einsum("nhwc,ow->nhoc", x, cols, preferred_element_type=jnp.int32))

  def vertical(x: jax.Array) -> jax.Array:
    return _round_to_uint8(jnp.einsum("nhwc,oh->nowc", x, rows, preferred_element_type=jnp.int32))

  x = images.astype(jnp.int32)
  x = horizontal(vertical(x)) if vertical_first(height, width, size) else vertical(horizontal(x))
  return x.astype(jnp.uint8)
