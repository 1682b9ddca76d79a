"""`pil_square_image` is PIL's own pixels after torchvision's centre crop, for every resizer;
the TensorFlow path crops at the same offsets."""

from __future__ import annotations

import io

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from an_flax.data import pil_preprocess, preprocess

FILTERS = {'nearest': Image.NEAREST, 'box': Image.BOX, 'bilinear': Image.BILINEAR,
           'hamming': Image.HAMMING, 'bicubic': Image.BICUBIC, 'lanczos': Image.LANCZOS}


def _photo(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
  """Smooth colours plus grain, so every resampling filter and DCT band has work to do."""
  coarse = rng.integers(0, 256, (height // 8 + 2, width // 8 + 2, 3), dtype=np.uint8)
  smooth = np.asarray(Image.fromarray(coarse).resize((width, height), Image.BICUBIC), int)
  return np.clip(smooth + rng.integers(-24, 25, smooth.shape), 0, 255).astype(np.uint8)


def _encode(pixels: np.ndarray, image_format: str, mode: str, **options) -> bytes:
  buffer = io.BytesIO()
  Image.fromarray(pixels).convert(mode).save(buffer, format=image_format, **options)
  return buffer.getvalue()


def _expected(encoded: bytes, size: int, resizer: str) -> np.ndarray:
  """PIL decodes and converts; the crop is torchvision's formula written out; PIL resizes."""
  pixels = np.asarray(Image.open(io.BytesIO(encoded)).convert('RGB'))
  height, width, _ = pixels.shape
  side = min(height, width)
  top = int(round((height - side) / 2.0))
  left = int(round((width - side) / 2.0))
  square = Image.fromarray(pixels[top:top + side, left:left + side])
  if side != size:
    square = square.resize((size, size), FILTERS[resizer])
  return np.asarray(square)


# (height, width): the long side longer by odd amounts whose half rounds down (excess 1,
# 301) and up (43, across and down), by even amounts (2, 32), square; tiny and large.
JPEGS = {
    'q50 4:4:4': ((75, 118), dict(quality=50, subsampling=0)),
    'q90 4:2:2': ((118, 75), dict(quality=90, subsampling=1)),
    'q98 4:2:0': ((64, 96), dict(quality=98, subsampling=2)),
    'q75 progressive': ((81, 80), dict(quality=75, progressive=True)),
    'large 4:2:0': ((700, 1001), dict(quality=85, subsampling=2)),
    'tiny': ((3, 5), dict(quality=95)),
    'square': ((48, 48), dict(quality=90)),
}


@pytest.mark.parametrize('name', sorted(JPEGS))
@pytest.mark.parametrize('mode', ['RGB', 'L', 'CMYK'])
def test_jpeg_is_pils_pixels_for_every_resizer(name, mode):
  (height, width), options = JPEGS[name]
  if mode != 'RGB':  # Grayscale and CMYK JPEGs have no chroma subsampling to choose.
    options = dict(quality=options['quality'])
  encoded = _encode(_photo(np.random.default_rng(), height, width), 'JPEG', mode, **options)
  for resizer in pil_preprocess.RESIZERS:
    for size in {32, min(height, width), 2 * min(height, width)}:  # down, as is, up
      image = pil_preprocess.pil_square_image(encoded, size, resizer)
      assert image.dtype == np.uint8 and image.shape == (size, size, 3)
      np.testing.assert_array_equal(image, _expected(encoded, size, resizer),
                                    err_msg=f'{name} {mode} {resizer} {size}')


@pytest.mark.parametrize('mode', ['RGB', 'L', 'P', 'RGBA'])
@pytest.mark.parametrize('height, width', [(3, 5), (59, 20), (21, 60), (1000, 700)])
def test_png_is_pils_pixels_for_every_resizer(mode, height, width):
  rng = np.random.default_rng()
  pixels = _photo(rng, height, width)
  if mode == 'RGBA':  # Transparency that convert('RGB') drops.
    pixels = np.dstack([pixels, rng.integers(0, 256, (height, width), dtype=np.uint8)])
  encoded = _encode(pixels, 'PNG', mode)
  for resizer in pil_preprocess.RESIZERS:
    image = pil_preprocess.pil_square_image(encoded, 128, resizer)
    np.testing.assert_array_equal(image, _expected(encoded, 128, resizer),
                                  err_msg=f'{mode} {resizer}')


def test_resizers_differ():
  """The names reach different filters (a typo mapping two names to one filter fails)."""
  encoded = _encode(_photo(np.random.default_rng(0), 200, 300), 'PNG', 'RGB')
  images = {name: pil_preprocess.pil_square_image(encoded, 64, name).tobytes()
            for name in pil_preprocess.RESIZERS}
  assert len(set(images.values())) == len(images)


def test_unknown_resizer_and_unreadable_bytes_are_errors():
  encoded = _encode(_photo(np.random.default_rng(0), 20, 30), 'PNG', 'RGB')
  with pytest.raises(ValueError, match='lanczos'):
    pil_preprocess.pil_square_image(encoded, 8, 'antialias')
  with pytest.raises(OSError):  # PIL.UnidentifiedImageError
    pil_preprocess.pil_square_image(b'not an image', 8, 'bilinear')


@pytest.mark.parametrize('excess', [1, 2, 3, 4, 5, 7, 10, 43])
@pytest.mark.parametrize('portrait', [False, True])
def test_tf_centre_square_is_the_pil_crop(excess, portrait):
  """The on-the-fly path's crop: torchvision's offsets for odd excesses whose half rounds
  down (1, 5) and up (3, 7, 43), and for even ones."""
  side = 16
  shape = (side + excess, side) if portrait else (side, side + excess)
  encoded = _encode(_photo(np.random.default_rng(), *shape), 'PNG', 'RGB')
  decoded = preprocess.decode_center_square(tf.constant(encoded)).numpy()
  np.testing.assert_array_equal(decoded, pil_preprocess.pil_square_image(encoded, side,
                                                                         'bilinear'))
