"""Encoded image -> uint8 square, exactly as the PyTorch GAN loaders make it, with PIL.

BigGAN-PyTorch (`utils.get_data_loaders`) and StudioGAN (`src/data_util.py`, whose HDF5
writer `src/utils/hdf5.py` runs the same dataset) read an ImageNet image as: torchvision's
`pil_loader` (PIL decodes the whole file, `convert('RGB')`), `CenterCropLongEdge`
(torchvision's `center_crop(img, min(img.size))`), then `transforms.Resize(size,
interpolation)` on the PIL image, which is PIL's `Image.resize` (antialiased when
downscaling) unless the short side already is `size`. PIL does all decoding and resampling
here; only the crop offsets are written out, as torchvision computes them.

This module imports no TensorFlow: `an_flax.data.prepare` runs it in one worker process
per core, which start in a fraction of a second and ~30 MB instead of TensorFlow's ~5 s and
~0.7 GB.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

# torchvision's InterpolationMode -> PIL filter, for the names StudioGAN's `--pre_resizer`
# and `resizer_collection` (src/data_util.py) use. BigGAN-PyTorch: 'bilinear'.
RESIZERS = {
    'nearest': Image.Resampling.NEAREST,
    'box': Image.Resampling.BOX,
    'bilinear': Image.Resampling.BILINEAR,
    'hamming': Image.Resampling.HAMMING,
    'bicubic': Image.Resampling.BICUBIC,
    'lanczos': Image.Resampling.LANCZOS,
}
CROP_RULE = ('torchvision center_crop(img, min(img.size)): the centred square of the short '
             'side, top = int(round((height - side) / 2.0)), left = int(round((width - '
             'side) / 2.0)) (Python round, half to even)')


def check_resizer(resizer: str) -> None:
  if resizer not in RESIZERS:
    raise ValueError(f'Unknown resizer {resizer!r}; expected one of {sorted(RESIZERS)} '
                     '(config.dataset.resizer).')


def center_square_box(width: int, height: int) -> tuple[int, int, int, int]:
  """(left, top, right, bottom) of torchvision's `center_crop(img, min(img.size))`."""
  side = min(width, height)
  top = int(round((height - side) / 2.0))
  left = int(round((width - side) / 2.0))
  return left, top, left + side, top + side


def pil_square_image(encoded: bytes, size: int, resizer: str) -> np.ndarray:
  """uint8 (size, size, 3): decode, RGB, centre square, resize, as the PyTorch loaders do.

  Raises PIL's errors (`PIL.UnidentifiedImageError`, OSError) for bytes it cannot read.
  """
  check_resizer(resizer)
  with Image.open(io.BytesIO(encoded)) as image:
    image = image.convert('RGB')
  image = image.crop(center_square_box(*image.size))
  if image.size != (size, size):  # torchvision's Resize returns a right-sized image as is.
    image = image.resize((size, size), RESIZERS[resizer])
  return np.asarray(image)
