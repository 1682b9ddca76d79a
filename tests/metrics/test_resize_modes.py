"""PIL's float resampling as matrix products, against PIL itself; each Inception input mode
against its codebase's path (benchmarks/pytorch/inception_inputs.py: clean-fid, StudioGAN)."""

import jax
import numpy as np
import pytest
from PIL import Image

from an_flax.metrics.preprocess import inception_input, pil_resample_weights, resize_like_pil
from benchmarks.pytorch import inception_inputs

# Levels of [0, 255]: PIL sums in float64, we in float32 (a few ulps of 255, 1.5e-5 each).
PIL_TOLERANCE = 1e-3


def pil_resize(images: np.ndarray, height: int, width: int, resample: str) -> np.ndarray:
  """Each channel of each image through `Image.resize` in mode 'F'."""
  return np.stack([np.stack([np.asarray(Image.fromarray(image[:, :, c], mode="F").resize(
      (width, height), inception_inputs.PIL_FILTERS[resample])) for c in range(image.shape[2])],
      axis=2) for image in images])


@pytest.mark.parametrize("resample", ["bicubic", "bilinear", "lanczos"])
@pytest.mark.parametrize("in_shape, out_shape", [
    *[((size, size), (299, 299)) for size in (32, 64, 128, 256, 512)],
    ((37, 53), (100, 81)),  # up, non-square, a different factor per axis
    ((150, 131), (75, 60)),  # down, non-square, irregular ratios
])
def test_resize_like_pil_is_pils_float_resize(resample, in_shape, out_shape):
  images = np.random.default_rng().uniform(0, 255, (2, *in_shape, 3)).astype(np.float32)
  actual = np.asarray(resize_like_pil(images, out_shape, resample))
  assert actual.shape == (2, *out_shape, 3) and actual.dtype == np.float32
  expected = pil_resize(images, *out_shape, resample)
  assert np.abs(actual - expected).max() <= PIL_TOLERANCE


def test_weights_stretch_the_filter_when_downscaling():
  """Downscaling by 2 widens bicubic's support from 2 to 4 input pixels each side."""
  up, down = pil_resample_weights(32, 64, "bicubic"), pil_resample_weights(64, 32, "bicubic")
  assert (up[20] != 0).sum() == 4 and (down[10] != 0).sum() == 8
  np.testing.assert_allclose(down.sum(axis=1), 1.0, rtol=0, atol=1e-6)


def test_unknown_filter_and_mode_are_one_message():
  with pytest.raises(ValueError, match="Unknown PIL filter 'nearest'"):
    resize_like_pil(np.zeros((1, 4, 4, 1), np.float32), 8, "nearest")
  with pytest.raises(ValueError, match="Unknown resize mode 'tf'; use one of legacy, clean"):
    inception_input(np.zeros((1, 4, 4, 3), np.uint8), 8, "tf")


@pytest.fixture(scope="module")
def images() -> np.ndarray:
  """uint8 128x128 images with saturated regions and sharp edges, where bicubic overshoots
  [0, 255] (so clean-fid's clipping matters) as well as noise."""
  rng = np.random.default_rng()
  images = rng.integers(0, 256, (2, 128, 128, 3), dtype=np.uint8)
  images[:, 30:60, 30:60] = 255
  images[:, 70:100, 10:120] = 0
  return images


def test_clean_is_clean_fids_input(images):
  actual = np.asarray(inception_input(images, resize="clean"))
  expected = inception_inputs.clean_fid_input(images)
  resized = np.asarray(resize_like_pil(images.astype(np.float32), 299, "bicubic"))
  assert resized.min() < 0 and resized.max() > 255  # so the clipping is exercised
  # 1e-3 levels of the resize, / 128.
  np.testing.assert_allclose(actual, expected, rtol=0, atol=PIL_TOLERANCE / 128)


def test_friendly_is_studiogans_inception_v3_tf_input(images):
  actual = np.asarray(inception_input(images, resize="friendly"))
  expected = inception_inputs.studiogan_input(images, post_resizer="friendly")
  np.testing.assert_allclose(actual, expected, rtol=0, atol=PIL_TOLERANCE / 127.5)


def test_legacy_is_unchanged_and_studiogans_legacy_within_float32_rounding(images):
  """Bit for bit the pytorch-fid path of before (/255, bilinear, 2x - 1); StudioGAN's legacy
  resizes the [0, 255] values and scales afterwards, which rounds differently."""
  x = images.astype(np.float32) / 255.0
  resized = jax.image.resize(x, (2, 299, 299, 3), "bilinear", antialias=False)
  np.testing.assert_array_equal(inception_input(images), 2.0 * resized - 1.0)
  expected = inception_inputs.studiogan_input(images, post_resizer="legacy")
  np.testing.assert_allclose(inception_input(images), expected, rtol=0, atol=1e-5)


def test_studiogans_clean_differs_from_clean_fids_only_by_its_missing_clip(images):
  """StudioGAN's copy of clean-fid's resizer does not clip: where bicubic overshoots, its
  "clean" input leaves [-1, 1]; clipped, it is clean-fid's ("clean" here)."""
  studiogan = inception_inputs.studiogan_input(images, post_resizer="clean")
  ours = np.asarray(inception_input(images, resize="clean"))
  assert studiogan.min() < -1.0 and studiogan.max() > 1.0
  clipped = (np.clip(studiogan * 0.5 + 0.5, 0, 1) * 255 - 128) / 128
  np.testing.assert_allclose(ours, clipped, rtol=0, atol=2 * PIL_TOLERANCE / 127.5)
