"""`procedural_facades`: generated building facades, the inpainting task's embedded data.

Paris StreetView in miniature, so inpainting trains and evaluates anywhere without
a download: a wall with a regular grid of windows (frames, shutters, mullions),
storey cornices, a roof band and a ground floor with doors. A centred hole
hides part of the grid; filling it well means continuing the rows and columns
seen elsewhere in the picture, which is what the non-local branch is for.

Label = window grid type, (rows - 2) * 4 + (cols - 2) for 2..4 rows and 2..5
columns: 12 classes (the task ignores it; the input pipeline carries one).

Determinism: example `i` of a split is drawn from `np.random.default_rng((SEED,
split, i))` and painted with exact box-filter coverage of axis-aligned
rectangles using arithmetic only (no transcendental functions), so pixels are
identical on every machine for a given version.
"""

from __future__ import annotations

import dataclasses
from typing import Iterator, Tuple

import numpy as np
import tensorflow_datasets as tfds

NAME = "procedural_facades"
SIZES = (32, 64, 128, 256)
NUM_CLASSES = 12
_SPLIT_SIZES = {"train": 4000, "test": 200}
_SEED = 20200405  # fixed forever for version 1.0.0


def _coverage_1d(length: int, start: float, stop: float) -> np.ndarray:
  """Fraction of each pixel [k, k + 1) covered by the interval [start, stop)."""
  k = np.arange(length, dtype=np.float64)
  return np.clip(np.minimum(k + 1.0, stop) - np.maximum(k, start), 0.0, 1.0)


class _Canvas:
  """A float RGB image in [0, 1] painted with anti-aliased rectangles."""

  def __init__(self, size: int, colour: np.ndarray):
    self.size = size
    self.pixels = np.broadcast_to(colour, (size, size, 3)).astype(np.float64)

  def rect(self, top: float, left: float, bottom: float, right: float,
           colour: np.ndarray) -> None:
    """Paints [top, bottom) x [left, right), in pixels, with exact coverage."""
    cover = np.outer(_coverage_1d(self.size, top, bottom), _coverage_1d(self.size, left, right))
    self.pixels += cover[..., None] * (colour - self.pixels)


def _shade(colour: np.ndarray, factor: float) -> np.ndarray:
  return np.clip(colour * factor, 0.0, 1.0)


def _palette(rng: np.random.Generator) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
  """Wall (light stone, ochre or brick), glass (dark, bluish) and trim colours."""
  stone = np.array([0.86, 0.80, 0.68]) * rng.uniform(0.8, 1.1)
  tint = rng.uniform(-0.12, 0.12, size=3)
  wall = np.clip(stone + tint, 0.15, 1.0)
  glass = np.array([0.12, 0.16, 0.22]) + rng.uniform(0.0, 0.15, size=3)
  trim = np.clip(rng.uniform(0.0, 1.0, size=3) * np.array([0.6, 0.6, 0.6]) + 0.2, 0.0, 1.0)
  return wall, glass, trim


def render(rng: np.random.Generator, size: int) -> Tuple[np.ndarray, int]:
  """One `size`x`size` RGB uint8 facade and its grid-type label."""
  s = float(size)
  wall, glass, trim = _palette(rng)
  canvas = _Canvas(size, wall)
  rows, cols = int(rng.integers(2, 5)), int(rng.integers(2, 6))

  roof = s * rng.uniform(0.06, 0.16)
  canvas.rect(0.0, 0.0, roof, s, _shade(trim, 0.55))
  ground = s * rng.uniform(0.72, 0.82)  # top of the ground floor
  margin = s * rng.uniform(0.02, 0.12)
  pitch_x, pitch_y = (s - 2 * margin) / cols, (ground - roof) / rows
  win_w, win_h = pitch_x * rng.uniform(0.35, 0.6), pitch_y * rng.uniform(0.45, 0.7)
  frame = max(s / 64.0, 0.5) * rng.uniform(0.5, 1.5)
  shutters, mullion = rng.uniform() < 0.4, rng.uniform() < 0.6
  cornice, balcony = rng.uniform() < 0.7, rng.uniform() < 0.5

  for r in range(rows):
    storey_top = roof + r * pitch_y
    if cornice:
      canvas.rect(storey_top, 0.0, storey_top + max(s / 96.0, 0.6), s, _shade(wall, 0.8))
    top = storey_top + (pitch_y - win_h) * 0.55
    for c in range(cols):
      left = margin + c * pitch_x + (pitch_x - win_w) / 2
      if shutters:
        canvas.rect(top, left - win_w * 0.35, top + win_h, left + win_w * 1.35, _shade(trim, 0.9))
      canvas.rect(top - frame, left - frame, top + win_h + frame, left + win_w + frame, trim)
      canvas.rect(top, left, top + win_h, left + win_w, glass)
      if mullion:
        mid = left + win_w / 2
        canvas.rect(top, mid - frame / 2, top + win_h, mid + frame / 2, trim)
      if balcony:
        canvas.rect(top + win_h, left - frame * 2, top + win_h + frame * 2,
                    left + win_w + frame * 2, _shade(trim, 0.4))

  canvas.rect(ground, 0.0, s, s, _shade(wall, 0.85))
  doors = int(rng.integers(1, 3))
  door_w = s * rng.uniform(0.1, 0.18)
  for d in range(doors):
    centre = s * (d + 1) / (doors + 1) + rng.uniform(-0.05, 0.05) * s
    canvas.rect(ground + (s - ground) * 0.2, centre - door_w / 2, s, centre + door_w / 2,
                _shade(glass, 1.4))

  noise_amplitude = int(rng.integers(0, 7))
  noise = rng.integers(-noise_amplitude, noise_amplitude + 1, size=(size, size, 3))
  image = np.clip(np.round(255.0 * canvas.pixels + noise), 0, 255).astype(np.uint8)
  return image, (rows - 2) * 4 + (cols - 2)


def render_example(split: str, index: int, size: int) -> Tuple[np.ndarray, int]:
  """Example `index` of `split`: a pure function of its arguments."""
  rng = np.random.default_rng((_SEED, list(_SPLIT_SIZES).index(split), index))
  return render(rng, size)


@dataclasses.dataclass
class ProceduralFacadesConfig(tfds.core.BuilderConfig):
  image_size: int = 64


class ProceduralFacades(tfds.core.GeneratorBasedBuilder):
  """Facades with window grids, generated on first use, never downloaded."""

  VERSION = tfds.core.Version("1.0.0")
  RELEASE_NOTES = {"1.0.0": "Initial release."}
  BUILDER_CONFIGS = [ProceduralFacadesConfig(name=f"{s}x{s}", image_size=s,
                                             description=f"{s}x{s} RGB facades.")
                     for s in SIZES]

  def _info(self) -> tfds.core.DatasetInfo:
    size = self.builder_config.image_size
    return tfds.core.DatasetInfo(
        builder=self, description=__doc__,
        features=tfds.features.FeaturesDict({
            "image": tfds.features.Image(shape=(size, size, 3), encoding_format="png"),
            "label": tfds.features.ClassLabel(num_classes=NUM_CLASSES),
        }))

  def _split_generators(self, dl_manager: tfds.download.DownloadManager):
    del dl_manager  # nothing to download
    return {split: self._generate_examples(split) for split in _SPLIT_SIZES}

  def _generate_examples(self, split: str) -> Iterator[Tuple[int, dict]]:
    for index in range(_SPLIT_SIZES[split]):
      image, label = render_example(split, index, self.builder_config.image_size)
      yield index, {"image": image, "label": label}
