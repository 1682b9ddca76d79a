"""`symmetric_shapes`: a procedural, class-conditional image set that ships with the code.

It exists so that training, evaluation and tests run anywhere without a download.
Each class has its own shape and hue, and every image repeats that shape across the
whole canvas (a left/right mirror pair, or a 2x2 tiling), so a generator must keep
far-apart regions consistent, which is what attention-based normalization is about.

Determinism: example `i` of a split is drawn from `np.random.default_rng((SEED, split, i))`
with uniform draws and IEEE arithmetic only (+, -, *, /, comparisons; no transcendental
functions, whose SIMD implementations differ between machines), so the decoded pixels
are identical for a given version on every machine.
"""

from __future__ import annotations

import dataclasses
from typing import Callable, Iterator

import numpy as np
import tensorflow_datasets as tfds

NUM_CLASSES = 10
CLASS_NAMES = (
    'circle', 'square', 'triangle', 'diamond', 'plus',
    'ring', 'cross', 'heart', 'crescent', 'hourglass',
)
_SPLIT_SIZES = {'train': 5000, 'test': 1000}
_SEED = 20200614  # Fixed forever for version 1.0.0.
_SUPERSAMPLING = 4  # Sub-pixel samples per axis: anti-aliased edges.

# Shapes in local coordinates: (u, v) in units of the shape's radius, v points down.
_Mask = Callable[[np.ndarray, np.ndarray], np.ndarray]
_SHAPES: dict[str, _Mask] = {
    'circle': lambda u, v: u * u + v * v <= 1.0,
    'square': lambda u, v: np.maximum(abs(u), abs(v)) <= 0.8,
    'triangle': lambda u, v: (v <= 0.75) & (abs(u) <= (v + 1.0) * 0.55),
    'diamond': lambda u, v: abs(u) + abs(v) <= 1.0,
    'plus': lambda u, v: (np.minimum(abs(u), abs(v)) <= 0.3)
    & (np.maximum(abs(u), abs(v)) <= 0.95),
    'ring': lambda u, v: (u * u + v * v <= 1.0) & (u * u + v * v >= 0.3),
    'cross': lambda u, v: ((abs(u - v) <= 0.42) | (abs(u + v) <= 0.42))
    & (np.maximum(abs(u), abs(v)) <= 0.85),
    'crescent': lambda u, v: (u * u + v * v <= 1.0)
    & ((u - 0.45) * (u - 0.45) + v * v >= 0.56),
    'heart': lambda u, v: _heart(1.15 * u, 0.1 - 1.15 * v),
    'hourglass': lambda u, v: (abs(u) <= abs(v)) & (abs(v) <= 0.9),
}


def _heart(x: np.ndarray, y: np.ndarray) -> np.ndarray:
  """The implicit heart curve (x^2 + y^2 - 1)^3 <= x^2 y^3 (polynomial, hence exact)."""
  r = x * x + y * y - 1.0
  return r * r * r <= x * x * y * y * y


def class_layout(label: int) -> str:
  """Even classes are a mirror-symmetric pair, odd classes a 2x2 repeated pattern."""
  return 'mirror' if label % 2 == 0 else 'tile'


def _hsv_to_rgb(h: float, s: float, v: float) -> np.ndarray:
  """HSV in [0, 1] to RGB in [0, 1] with arithmetic only."""
  h6 = (h % 1.0) * 6.0
  k = (np.array([5.0, 3.0, 1.0]) + h6) % 6.0
  return v - v * s * np.clip(np.minimum(k, 4.0 - k), 0.0, 1.0)


def _coverage(mask: _Mask, height: int, width: int, cx: float, cy: float,
              radius: float) -> np.ndarray:
  """Fraction of each pixel covered by the shape; coordinates are in pixels."""
  n = _SUPERSAMPLING
  ys = (np.arange(height * n) + 0.5) / n
  xs = (np.arange(width * n) + 0.5) / n
  u = (xs[None, :] - cx) / radius
  v = (ys[:, None] - cy) / radius
  inside = mask(u, v).astype(np.float64)
  return inside.reshape(height, n, width, n).mean(axis=(1, 3))


def render(rng: np.random.Generator, label: int, size: int) -> np.ndarray:
  """Draws one `size`x`size` RGB uint8 image of class `label`."""
  mask = _SHAPES[CLASS_NAMES[label]]
  if class_layout(label) == 'mirror':
    cell_h, cell_w = size, size // 2
    radius = rng.uniform(0.24, 0.42) * cell_w
  else:
    cell_h, cell_w = size // 2, size // 2
    radius = rng.uniform(0.24, 0.4) * cell_w
  cx = rng.uniform(radius + 0.05 * cell_w, cell_w - radius)
  cy = rng.uniform(radius, cell_h - radius)
  cell = _coverage(mask, cell_h, cell_w, cx, cy, radius)
  if class_layout(label) == 'mirror':
    cover = np.concatenate([cell, cell[:, ::-1]], axis=1)
  else:
    cover = np.tile(cell, (2, 2))

  hue = label / NUM_CLASSES + rng.uniform(-0.02, 0.02)
  fg = _hsv_to_rgb(hue, rng.uniform(0.65, 1.0), rng.uniform(0.7, 1.0))
  bg = _hsv_to_rgb(rng.uniform(0.0, 1.0), rng.uniform(0.0, 0.2), rng.uniform(0.05, 0.9))
  noise_amplitude = int(rng.integers(0, 17))
  noise = rng.integers(-noise_amplitude, noise_amplitude + 1, size=(size, size, 3))

  cover = cover[..., None]
  image = 255.0 * (cover * fg + (1.0 - cover) * bg) + (1.0 - cover) * noise
  return np.clip(np.round(image), 0, 255).astype(np.uint8)


def render_example(split: str, index: int, size: int) -> tuple[np.ndarray, int]:
  """Example `index` of `split`: a pure function of its arguments."""
  split_id = list(_SPLIT_SIZES).index(split)
  rng = np.random.default_rng((_SEED, split_id, index))
  label = index % NUM_CLASSES
  return render(rng, label, size), label


@dataclasses.dataclass
class SymmetricShapesConfig(tfds.core.BuilderConfig):
  image_size: int = 32


class SymmetricShapes(tfds.core.GeneratorBasedBuilder):
  """Ten classes of shapes repeated across the canvas; generated, never downloaded."""

  VERSION = tfds.core.Version('1.0.0')
  RELEASE_NOTES = {'1.0.0': 'Initial release.'}
  BUILDER_CONFIGS = [
      SymmetricShapesConfig(name=f'{s}x{s}', image_size=s,
                            description=f'{s}x{s} RGB images.')
      for s in (32, 64)
  ]

  def _info(self) -> tfds.core.DatasetInfo:
    size = self.builder_config.image_size
    return tfds.core.DatasetInfo(
        builder=self,
        description=__doc__,
        features=tfds.features.FeaturesDict({
            'image': tfds.features.Image(shape=(size, size, 3), encoding_format='png'),
            'label': tfds.features.ClassLabel(names=CLASS_NAMES),
        }),
        supervised_keys=('image', 'label'),
    )

  def _split_generators(self, dl_manager: tfds.download.DownloadManager):
    del dl_manager  # Nothing to download.
    return {split: self._generate_examples(split) for split in _SPLIT_SIZES}

  def _generate_examples(self, split: str) -> Iterator[tuple[int, dict]]:
    for index in range(_SPLIT_SIZES[split]):
      image, label = render_example(split, index, self.builder_config.image_size)
      yield index, {'image': image, 'label': label}
