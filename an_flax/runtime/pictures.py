"""Pictures for humans: class-conditional sample sheets and AN layout maps (uint8 HWC)."""

import os
from typing import Mapping, Sequence

import numpy as np
from PIL import Image

# Fixed palette (matplotlib's tab20) so an entity keeps its colour across steps.
PALETTE = np.array([
    (31, 119, 180), (174, 199, 232), (255, 127, 14), (255, 187, 120), (44, 160, 44),
    (152, 223, 138), (214, 39, 40), (255, 152, 150), (148, 103, 189), (197, 176, 213),
    (140, 86, 75), (196, 156, 148), (227, 119, 194), (247, 182, 210), (127, 127, 127),
    (199, 199, 199), (188, 189, 34), (219, 219, 141), (23, 190, 207), (158, 218, 229),
], np.uint8)
_PAD = 2


def to_uint8(images: np.ndarray) -> np.ndarray:
  """[-1, 1] floats -> uint8, rounded as when saving a PNG."""
  return np.clip(np.round((np.asarray(images, np.float32) + 1.0) * 127.5), 0, 255).astype(np.uint8)


def grid(tiles: np.ndarray, rows: int) -> np.ndarray:
  """(rows * cols, H, W, 3) uint8 tiles -> one image, row-major, white gaps."""
  n, h, w, c = tiles.shape
  cols = n // rows
  canvas = np.full((rows * (h + _PAD) + _PAD, cols * (w + _PAD) + _PAD, c), 255, np.uint8)
  for i, tile in enumerate(tiles[:rows * cols]):
    y, x = _PAD + (i // cols) * (h + _PAD), _PAD + (i % cols) * (w + _PAD)
    canvas[y:y + h, x:x + w] = tile
  return canvas


def sample_sheet(images: np.ndarray, num_rows: int) -> np.ndarray:
  """Generated images in [-1, 1], ordered row by row (one class per row)."""
  return grid(to_uint8(images), num_rows)


def _upsample(maps: np.ndarray, size: int) -> np.ndarray:
  """Nearest-neighbour upsampling of (N, h, w, ...) maps to (N, size, size, ...)."""
  factor = size // maps.shape[1]
  return np.repeat(np.repeat(maps, factor, axis=1), factor, axis=2)


def layout_tiles(layout: np.ndarray, size: int) -> np.ndarray:
  """(N, h, w, n) soft layout -> (N, 1 + n, size, size, 3) uint8 tiles.

  Tile 0 colours each position by its most likely entity (PALETTE); tile
  1 + k shows entity k's map stretched from its minimum to its maximum over
  the image: with kappa = 10 the soft layout stays close to uniform, and
  its structure would be invisible on an absolute scale.
  """
  layout = _upsample(np.asarray(layout, np.float32), size)
  argmax = PALETTE[np.argmax(layout, axis=-1) % len(PALETTE)]
  low = layout.min(axis=(1, 2), keepdims=True)
  spread = np.maximum(layout.max(axis=(1, 2), keepdims=True) - low, 1e-6)
  maps = np.round(255 * (layout - low) / spread).astype(np.uint8)
  maps = np.repeat(np.moveaxis(maps, -1, 1)[..., None], 3, axis=-1)
  return np.concatenate([argmax[:, None], maps], axis=1)


def layout_picture(images: np.ndarray, layouts: Mapping[str, np.ndarray]) -> np.ndarray:
  """One row per example: the image, then for each AN module its argmax and entity maps."""
  tiles = to_uint8(images)
  size = tiles.shape[1]
  row = [tiles[:, None]] + [layout_tiles(layouts[name], size) for name in sorted(layouts)]
  row = np.concatenate(row, axis=1)
  return grid(row.reshape((-1,) + row.shape[2:]), rows=row.shape[0])


def write_png(path: str, image: np.ndarray) -> None:
  os.makedirs(os.path.dirname(path), exist_ok=True)
  Image.fromarray(image).save(path)


def sample_classes(num_classes: int, num_rows: int) -> Sequence[int]:
  """Evenly spaced classes for the rows of a sample sheet."""
  return np.linspace(0, num_classes - 1, min(num_classes, num_rows)).round().astype(int).tolist()
