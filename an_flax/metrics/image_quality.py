"""PSNR, SSIM and L1 for inpainting, computed per image on [0, 255] values.

Protocol: float images in [-1, 1] are first quantised to uint8 as a PNG writer
would (`an_flax.metrics.preprocess.quantize_to_uint8`), then compared as
[0, 255] values, so scores equal those of the saved pictures.

SSIM is Wang et al. (2004) as scikit-image computes it with
`structural_similarity(a, b, gaussian_weights=True, sigma=1.5,
use_sample_covariance=False, data_range=255, channel_axis=-1)`: an 11-tap
Gaussian window (sigma 1.5, truncated at 3.5 sigma), K1 = 0.01, K2 = 0.03,
population covariances, the SSIM map averaged over pixels whose window lies
inside the image (skimage crops (11 - 1) / 2 = 5 pixels per side) and then
over channels. Second moments are taken about 127.5 so float32 keeps about
1e-6 relative precision on the variances.
"""

from typing import Dict

import jax
import jax.numpy as jnp
import numpy as np

from an_flax.metrics.preprocess import quantize_to_uint8

DATA_RANGE = 255.0
SSIM_SIGMA = 1.5
SSIM_RADIUS = int(3.5 * SSIM_SIGMA + 0.5)  # 5: skimage's truncate=3.5 -> 11 taps
SSIM_K1, SSIM_K2 = 0.01, 0.03


def _as_float255(images: jax.Array) -> jax.Array:
  """uint8 -> float32 as is; floats are taken as [-1, 1] and quantised first."""
  if images.dtype != jnp.uint8:
    images = quantize_to_uint8(images)
  return images.astype(jnp.float32)


def psnr(a: jax.Array, b: jax.Array) -> jax.Array:
  """Per-image PSNR in dB, (N,); inf for identical images (as skimage)."""
  x, y = _as_float255(a), _as_float255(b)
  mse = jnp.mean(jnp.square(x - y), axis=(1, 2, 3))
  return 10.0 * jnp.log10(DATA_RANGE ** 2 / mse)


def _gaussian_taps() -> jax.Array:
  offsets = np.arange(-SSIM_RADIUS, SSIM_RADIUS + 1, dtype=np.float64)
  taps = np.exp(-0.5 * (offsets / SSIM_SIGMA) ** 2)
  return jnp.asarray(taps / taps.sum(), jnp.float32)


def _valid_blur(x: jax.Array) -> jax.Array:
  """Separable Gaussian filter on (N, H, W, C), VALID: skimage's cropped region."""
  taps = _gaussian_taps()
  channels = x.shape[-1]
  def conv(y, kernel_shape):
    kernel = jnp.tile(taps.reshape(kernel_shape + (1, 1)), (1, 1, 1, channels))
    return jax.lax.conv_general_dilated(
        y, kernel, (1, 1), "VALID", dimension_numbers=("NHWC", "HWIO", "NHWC"),
        feature_group_count=channels, precision=jax.lax.Precision.HIGHEST)
  return conv(conv(x, (taps.size, 1)), (1, taps.size))


def ssim(a: jax.Array, b: jax.Array) -> jax.Array:
  """Per-image SSIM, (N,), channel-averaged; images at least 11x11."""
  x, y = _as_float255(a) - 127.5, _as_float255(b) - 127.5
  if min(x.shape[1:3]) < 2 * SSIM_RADIUS + 1:
    raise ValueError(f"SSIM needs images of at least {2 * SSIM_RADIUS + 1}x"
                     f"{2 * SSIM_RADIUS + 1}, got {x.shape[1]}x{x.shape[2]}.")
  mu_x, mu_y = _valid_blur(x), _valid_blur(y)
  var_x = _valid_blur(x * x) - mu_x * mu_x
  var_y = _valid_blur(y * y) - mu_y * mu_y
  cov = _valid_blur(x * y) - mu_x * mu_y
  mu_x, mu_y = mu_x + 127.5, mu_y + 127.5  # luminance uses the unshifted means
  c1, c2 = (SSIM_K1 * DATA_RANGE) ** 2, (SSIM_K2 * DATA_RANGE) ** 2
  ssim_map = ((2 * mu_x * mu_y + c1) * (2 * cov + c2)
              / ((mu_x ** 2 + mu_y ** 2 + c1) * (var_x + var_y + c2)))
  return jnp.mean(ssim_map, axis=(1, 2, 3))


def l1(a: jax.Array, b: jax.Array) -> jax.Array:
  """Per-image mean absolute error on [0, 1] values, (N,)."""
  return jnp.mean(jnp.abs(_as_float255(a) - _as_float255(b)), axis=(1, 2, 3)) / DATA_RANGE


@jax.jit
def image_quality(prediction: jax.Array, target: jax.Array) -> Dict[str, jax.Array]:
  """{'psnr', 'ssim', 'l1'}, each per image (N,)."""
  return {"psnr": psnr(prediction, target), "ssim": ssim(prediction, target),
          "l1": l1(prediction, target)}
