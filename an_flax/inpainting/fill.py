"""`fill`: inpaint a user's picture with a user's mask from the newest checkpoint.

The mask is a PNG of the picture's size: white (255) = hole to fill, black
(0) = keep; grayscale or RGB, 0/1-valued PNGs are accepted too. The network
is fully convolutional, so any size works; sizes that are not a multiple of 4
are edge-padded and cropped back. Known pixels are returned unchanged.
"""

import os
from typing import Tuple

import jax
import ml_collections
import numpy as np
from absl import logging
from PIL import Image, UnidentifiedImageError

from an_flax.inpainting import steps
from an_flax.inpainting.config import min_image_size, validate_config
from an_flax.inpainting.evaluation import restore_newest
from an_flax.runtime import mesh as mesh_lib


class FillError(ValueError):
  """A user input problem, with a message that says how to fix it."""


def _open(path: str, what: str) -> Image.Image:
  if not os.path.isfile(path):
    raise FillError(f"The {what} file {path!r} does not exist.")
  try:
    image = Image.open(path)
    image.load()
  except (UnidentifiedImageError, OSError) as error:
    raise FillError(f"Cannot read the {what} {path!r} as an image: {error}.") from error
  return image


def read_image(path: str) -> np.ndarray:
  """uint8 (H, W, 3); alpha is dropped, grayscale becomes RGB."""
  return np.asarray(_open(path, "image").convert("RGB"))


def read_mask(path: str, shape: Tuple[int, int]) -> np.ndarray:
  """float32 (H, W, 1), 1 = hole; checks size, binarity and that there is a hole."""
  image = _open(path, "mask")
  values = np.asarray(image.convert("L"))
  if values.shape != shape:
    raise FillError(f"The mask {path!r} is {values.shape[1]}x{values.shape[0]} (WxH) but the "
                    f"image is {shape[1]}x{shape[0]}: they must have the same size.")
  levels = np.unique(values)
  if set(levels.tolist()) <= {0, 1}:
    hole = values == 1
  elif set(levels.tolist()) <= {0, 255}:
    hole = values == 255
  else:
    shown = ", ".join(map(str, levels[:8])) + (", ..." if len(levels) > 8 else "")
    raise FillError(f"The mask {path!r} is not binary: it has the gray levels {shown}. Use "
                    "only white (255) for the hole and black (0) for pixels to keep (no "
                    "antialiasing; save as PNG, not JPEG).")
  if not hole.any():
    raise FillError(f"The mask {path!r} has no hole: paint the region to fill in white (255).")
  return hole[..., None].astype(np.float32)


def check_output(path: str) -> None:
  """Fails before the model runs when the PNG cannot be written at `path`."""
  if os.path.isdir(path):
    raise FillError(f"--output={path} is a directory: give the file to write, e.g. "
                    f"{os.path.join(path, 'filled.png')}.")
  folder = os.path.dirname(os.path.abspath(path))
  existing = folder
  while not os.path.isdir(existing):
    existing = os.path.dirname(existing)
  if not os.access(existing, os.W_OK):
    raise FillError(f"--output={path}: cannot write in {existing}; choose another location.")


def _pad_to_multiple(array: np.ndarray, multiple: int, mode: str) -> np.ndarray:
  pad = [(0, -n % multiple) for n in array.shape[:2]] + [(0, 0)]
  return np.pad(array, pad, mode=mode)


def fill(config: ml_collections.ConfigDict, workdir: str, image_path: str, mask_path: str,
         output_path: str) -> str:
  """Writes the composite to `output_path` (PNG) and returns the path."""
  validate_config(config, training=False)
  check_output(output_path)
  image = read_image(image_path)
  mask = read_mask(mask_path, image.shape[:2])
  smallest = min_image_size(config)
  if min(image.shape[:2]) < smallest:
    raise FillError(f"The image is {image.shape[1]}x{image.shape[0]}; this model needs at "
                    f"least {smallest}x{smallest}.")
  if image.shape[:2] != steps.image_size(config):
    logging.warning("Image %s is %dx%d; the model was trained at %d: results may be worse.",
                    image_path, image.shape[1], image.shape[0], config.dataset.image_size)

  mesh = mesh_lib.create_mesh(devices=jax.devices()[:1])  # one picture: one device
  state, generator = restore_newest(config, workdir, mesh)
  inpaint = steps.make_inpaint_fn(generator, mesh)
  padded_image = _pad_to_multiple(image, 4, "edge")[None]
  padded_mask = _pad_to_multiple(mask, 4, "constant")[None]
  composite = inpaint(state.g_params, padded_image, padded_mask)["composite"]
  height, width = image.shape[:2]
  result = np.asarray(composite)[0, :height, :width]
  result = np.clip(np.floor((result + 1.0) * 127.5 + 0.5), 0, 255).astype(np.uint8)
  result = np.where(mask > 0, result, image)  # known pixels exactly as given
  os.makedirs(os.path.dirname(os.path.abspath(output_path)), exist_ok=True)
  Image.fromarray(result).save(output_path, format="PNG")
  logging.info("Inpainted %s with %s -> %s (checkpoint step %d).", image_path, mask_path,
               output_path, int(np.asarray(state.step)))
  return output_path
