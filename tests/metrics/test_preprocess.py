"""Preprocessing equals pytorch-fid's path: uint8 -> /255 -> torch bilinear resize -> 2x-1."""

import jax
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from an_flax.metrics.preprocess import inception_input, quantize_to_uint8


def torch_resize(x_nhwc: np.ndarray, size: int) -> np.ndarray:
  x = torch.from_numpy(x_nhwc).permute(0, 3, 1, 2)
  x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
  return x.permute(0, 2, 3, 1).numpy()


@pytest.mark.parametrize("shape,size", [((2, 128, 128, 3), 299),  # The 128x128 GAN case.
                                         ((2, 32, 40, 3), 299),  # Up, non-square input.
                                         ((2, 150, 131, 3), 75),  # Down, irregular ratio.
                                         ((1, 299, 299, 3), 107)])  # Down.
def test_resize_matches_torch_interpolate(shape, size):
  """Same sampling positions and weights; only float32 rounding of the source coordinate
  differs (about 1 ulp for these ratios, up to ~5e-6 for irregular ones like 131 -> 75)."""
  x = np.random.default_rng(0).uniform(0, 1, shape).astype(np.float32)
  resized = jax.image.resize(x, (shape[0], size, size, 3), "bilinear", antialias=False)
  np.testing.assert_allclose(resized, torch_resize(x, size), rtol=0, atol=1e-5)


def test_inception_input_matches_pytorch_fid():
  images = np.random.default_rng(1).integers(0, 256, (2, 37, 29, 3), dtype=np.uint8)
  expected = 2 * torch_resize(images.astype(np.float32) / 255, 299) - 1
  actual = inception_input(images)
  assert actual.shape == (2, 299, 299, 3) and actual.dtype == np.float32
  np.testing.assert_allclose(actual, expected, rtol=0, atol=4e-6)


def test_quantize_rounds_half_up_and_clips_like_save_image():
  rng = np.random.default_rng(2)
  # Random values, out-of-range values, and values exactly on the .5 rounding boundaries.
  half_steps = (np.arange(256, dtype=np.float32) + 0.5) / 255 * 2 - 1
  x = np.concatenate([rng.uniform(-1.2, 1.2, 4996).astype(np.float32), half_steps,
                      np.float32([-1, 1, -3, 3])]).reshape(-1, 2, 2, 3)
  expected = np.clip(np.floor(((x + 1) / 2) * 255 + 0.5), 0, 255).astype(np.uint8)
  # torchvision.utils.save_image's conversion, applied to (x + 1) / 2.
  saved = torch.from_numpy((x + 1) / 2).mul(255).add_(0.5).clamp_(0, 255).to(torch.uint8)
  actual = np.asarray(quantize_to_uint8(x))
  assert actual.dtype == np.uint8
  np.testing.assert_array_equal(actual, expected)
  np.testing.assert_array_equal(actual, saved.numpy())
