"""PSNR, SSIM and L1 against scikit-image on fresh random images."""

import jax.numpy as jnp
import numpy as np
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from an_flax.metrics import image_quality

# float32 filtering (moments about 127.5) vs skimage's float64: ~1e-7 observed.
SSIM_ATOL = 1e-5
PSNR_RTOL = 1e-5


def test_psnr_ssim_l1_match_skimage():
  rng = np.random.default_rng()  # fresh images on every run
  a = rng.integers(0, 256, size=(3, 40, 37, 3), dtype=np.uint8)
  noise = rng.normal(scale=rng.uniform(5, 60), size=a.shape)
  b = np.clip(a + noise + np.linspace(-20, 20, 37)[None, None, :, None], 0, 255).astype(np.uint8)
  b[0] = np.clip(0.5 * a[0] + 60, 0, 255).astype(np.uint8)  # a contrast change
  got = {k: np.asarray(v) for k, v in image_quality.image_quality(jnp.asarray(b), jnp.asarray(a)).items()}
  for n in range(a.shape[0]):
    expected_ssim = structural_similarity(a[n], b[n], gaussian_weights=True, sigma=1.5,
                                          use_sample_covariance=False, data_range=255,
                                          channel_axis=-1)
    np.testing.assert_allclose(got["ssim"][n], expected_ssim, atol=SSIM_ATOL)
    np.testing.assert_allclose(got["psnr"][n], peak_signal_noise_ratio(a[n], b[n], data_range=255),
                               rtol=PSNR_RTOL)
    np.testing.assert_allclose(got["l1"][n], np.abs(a[n] / 255.0 - b[n] / 255.0).mean(), rtol=1e-5)


def test_float_images_are_quantised_like_png():
  x = jnp.array([-1.0, -0.5, 0.0, 1.0]).reshape(1, 1, 4, 1) * jnp.ones((1, 12, 4, 3))
  x = jnp.tile(x, (1, 1, 3, 1))
  u8 = np.round((np.asarray(x) + 1) * 127.5 + 1e-9).astype(np.uint8)  # 0, 64, 128, 255
  got = image_quality.image_quality(x, jnp.asarray(u8))
  assert np.isinf(np.asarray(got["psnr"])).all()
  np.testing.assert_allclose(np.asarray(got["ssim"]), 1.0, atol=1e-6)
