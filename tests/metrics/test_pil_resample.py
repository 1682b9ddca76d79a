"""PIL's 8-bit bicubic resize on the device, against PIL itself: every pixel equal."""

import jax
import numpy as np
import pytest
from PIL import Image

from an_flax.metrics.pil_resample import (fixed_point_weights, resize_bicubic_uint8,
                                           vertical_first)

SIZE = 56


def pil_resize(images: np.ndarray, size: int) -> np.ndarray:
  return np.stack([np.asarray(Image.fromarray(image).resize((size, size), Image.BICUBIC))
                   for image in images])


# Up, down and mixed; (150, 30) and (100, 60) take Pillow 13's vertical-first order,
# (60, 100) and (30, 150) the horizontal-first one; (56, 56) is the identity.
@pytest.mark.parametrize("height,width", [(16, 16), (32, 24), (100, 100), (57, 200),
                                          (150, 30), (100, 60), (60, 100), (30, 150),
                                          (56, 56), (56, 200)])
def test_equals_pil_bit_for_bit(height, width):
  images = np.random.default_rng(height * width).integers(
      0, 256, (2, height, width, 3), dtype=np.uint8)
  # Black and white noise drives the filter's negative lobes past 0 and 255: clipping.
  images[1] = 255 * np.random.default_rng(0).integers(0, 2, (height, width, 3))
  ours = np.asarray(jax.jit(resize_bicubic_uint8, static_argnums=1)(images, SIZE))
  assert ours.dtype == np.uint8 and ours.shape == (2, SIZE, SIZE, 3)
  np.testing.assert_array_equal(ours, pil_resize(images, SIZE))


def test_pass_order_is_pillow_13s():
  """Which pass runs first changes pixels, and Pillow 13 runs the vertical one first when the
  height shrinks by more than twice what the width does."""
  assert vertical_first(150, 30, SIZE) and vertical_first(100, 60, SIZE)
  assert not vertical_first(60, 100, SIZE) and not vertical_first(100, 100, SIZE)
  assert not vertical_first(40, 10, SIZE)  # The height grows: never vertical first.
  image = np.random.default_rng(1).integers(0, 256, (100, 60, 3), dtype=np.uint8)
  rows, cols = (fixed_point_weights(n, SIZE).astype(np.int64) for n in image.shape[:2])
  clip8 = lambda sums: np.clip((sums + (1 << 21)) >> 22, 0, 255)
  x = image.astype(np.int64).transpose(2, 0, 1)  # (C, H, W)
  by_order = {"vertical first": clip8(clip8(rows @ x) @ cols.T),
              "horizontal first": clip8(rows @ clip8(x @ cols.T))}
  pil = pil_resize(image[None], SIZE)[0].transpose(2, 0, 1)
  np.testing.assert_array_equal(by_order["vertical first"], pil)
  assert np.any(by_order["horizontal first"] != pil)
