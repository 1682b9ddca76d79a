"""The centre square of a JPEG, PNG or GIF decodes to PIL's pixels (what pytorch-fid and
the PyTorch GAN loaders read)."""

import io

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from an_flax.data import preprocess


def _jpeg(rng: np.random.Generator, height: int, width: int, mode: str, quality: int,
          subsampling: int) -> bytes:
  """A photo-like picture (smooth colours plus grain: every DCT band carries energy)."""
  coarse = rng.integers(0, 256, (height // 8 + 2, width // 8 + 2, 3), dtype=np.uint8)
  smooth = np.asarray(Image.fromarray(coarse).resize((width, height), Image.BICUBIC), int)
  pixels = np.clip(smooth + rng.integers(-24, 25, smooth.shape), 0, 255).astype(np.uint8)
  buffer = io.BytesIO()
  Image.fromarray(pixels).convert(mode).save(buffer, format="JPEG", quality=quality,
                                             subsampling=subsampling)
  return buffer.getvalue()


# The centre square off the 8x8 block and chroma grids, on them (64x96: x = 16), all of
# the picture; grayscale.
@pytest.mark.parametrize("height, width, mode", [(75, 118, "RGB"), (130, 97, "RGB"),
                                                 (64, 96, "RGB"), (64, 64, "RGB"),
                                                 (83, 61, "L")])
@pytest.mark.parametrize("quality", [50, 90, 98])
@pytest.mark.parametrize("subsampling", [0, 1, 2])  # 4:4:4, 4:2:2, 4:2:0
def test_jpeg_centre_square_is_pils_pixels(height, width, mode, quality, subsampling):
  encoded = _jpeg(np.random.default_rng(), height, width, mode, quality, subsampling)
  decoded = preprocess.decode_center_square(tf.constant(encoded)).numpy()
  side = min(height, width)
  top, left = int(round((height - side) / 2.0)), int(round((width - side) / 2.0))  # torchvision
  expected = np.asarray(Image.open(io.BytesIO(encoded)).convert("RGB"))
  np.testing.assert_array_equal(decoded, expected[top:top + side, left:left + side])


@pytest.mark.parametrize("image_format, mode", [("PNG", "RGB"), ("PNG", "L"), ("PNG", "RGBA"),
                                                ("GIF", "P")])
def test_png_and_gif_centre_square_is_pils_pixels(image_format, mode):
  """The JPEG decoder also reads the lossless formats of CIFAR, the shapes and folders."""
  rng = np.random.default_rng()
  height, width = rng.integers(20, 60, 2)
  pixels = rng.integers(0, 256, (height, width, 4), dtype=np.uint8)
  buffer = io.BytesIO()
  Image.fromarray(pixels, "RGBA").convert(mode).save(buffer, format=image_format)
  encoded = buffer.getvalue()
  decoded = preprocess.decode_center_square(tf.constant(encoded)).numpy()
  side = min(height, width)
  top, left = int(round((height - side) / 2.0)), int(round((width - side) / 2.0))  # torchvision
  expected = np.asarray(Image.open(io.BytesIO(encoded)).convert("RGB"))
  np.testing.assert_array_equal(decoded, expected[top:top + side, left:left + side])
