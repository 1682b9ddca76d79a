"""Pictures for humans: class-conditional sample sheets and AN layout maps (uint8 HWC)."""

from typing import Mapping, Sequence

import numpy as np
from etils import epath
from PIL import Image, ImageDraw, ImageFont

# Fixed palette (matplotlib's tab20) so an entity keeps its colour across steps.
PALETTE = np.array([
    (31, 119, 180), (174, 199, 232), (255, 127, 14), (255, 187, 120), (44, 160, 44),
    (152, 223, 138), (214, 39, 40), (255, 152, 150), (148, 103, 189), (197, 176, 213),
    (140, 86, 75), (196, 156, 148), (227, 119, 194), (247, 182, 210), (127, 127, 127),
    (199, 199, 199), (188, 189, 34), (219, 219, 141), (23, 190, 207), (158, 218, 229),
], np.uint8)
_PAD = 2
LAYOUT_LEGEND = ("One row per example. image: G_ema's sample. Then one block per AN module "
                 "(G/... generator, D/... discriminator, at the sample's resolution): argmax "
                 "colours each position by its most likely entity; eK is entity K's soft "
                 "layout map, black at its minimum and white at its maximum over that image.")
_FONT = ImageFont.load_default(size=9)  # PIL's own font: nothing to install; "argmax" fits 32 px
_LINE = _FONT.getbbox("Ag")[3] + 3  # text line height in pixels


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
  """One row per example: the image, then for each AN module its argmax and entity maps,
  under a header naming the blocks and their columns and above a legend of what they show.
  """
  tiles = to_uint8(images)
  size = tiles.shape[1]
  names = sorted(layouts)
  row = [tiles[:, None]] + [layout_tiles(layouts[name], size) for name in names]
  row = np.concatenate(row, axis=1)
  body = grid(row.reshape((-1,) + row.shape[2:]), rows=row.shape[0])
  column = lambda index: _PAD + index * (size + _PAD)  # x of a tile column's left edge
  blocks, columns, first = [("", 0, 1)], [("image", 0, 1)], 1
  for name in names:
    num_entities = layouts[name].shape[-1]
    blocks.append((name, first, 1 + num_entities))
    columns.append(("argmax", first, 1))
    columns += [(f"e{k}", first + 1 + k, 1) for k in range(num_entities)]
    first += 1 + num_entities
  labels = [[(text, column(start), span * (size + _PAD) - _PAD) for text, start, span in line]
            for line in (blocks, columns)]
  width = body.shape[1]
  legend = [[(text, _PAD, width - _PAD)] for text in _wrap(LAYOUT_LEGEND, width - 2 * _PAD)]
  return np.concatenate([_text_band(labels, width, underline=True), body,
                         _text_band(legend, width)])


def _text_band(lines: Sequence[Sequence[tuple[str, int, int]]], width: int,
               underline: bool = False) -> np.ndarray:
  """White band of text lines; each (text, x, width) is clipped to its own box. With
  `underline`, a rule under each box of the first line shows how far that block reaches."""
  band = Image.new("RGB", (width, _LINE * len(lines) + _PAD), "white")
  for y, line in enumerate(lines):
    for text, x, box_width in line:
      box = Image.new("RGB", (box_width, _LINE), "white")
      ImageDraw.Draw(box).text((0, 1), text, fill="black", font=_FONT)
      if underline and y == 0 and text:
        ImageDraw.Draw(box).line([(0, _LINE - 1), (box_width, _LINE - 1)], fill="gray")
      band.paste(box, (x, y * _LINE))
  return np.asarray(band)


def _wrap(text: str, width: int) -> list[str]:
  """Greedy word wrap to lines at most `width` pixels wide in `_FONT`."""
  lines = [""]
  for word in text.split():
    candidate = f"{lines[-1]} {word}".strip()
    if lines[-1] and _FONT.getlength(candidate) > width:
      lines.append(word)
    else:
      lines[-1] = candidate
  return lines


def write_png(path: str, image: np.ndarray) -> None:
  """`image` as a PNG file at `path`, a local path or an object-store URL (`gs://...`)."""
  path = epath.Path(path)
  path.parent.mkdir(parents=True, exist_ok=True)
  with path.open("wb") as f:
    Image.fromarray(image).save(f, format="PNG")


def sample_classes(num_classes: int, num_rows: int) -> Sequence[int]:
  """Evenly spaced classes for the rows of a sample sheet."""
  return np.linspace(0, num_classes - 1, min(num_classes, num_rows)).round().astype(int).tolist()
