"""Shared fixtures: a prepared embedded dataset and a small image folder."""

from __future__ import annotations

import dataclasses
import pathlib

import ml_collections
import numpy as np
import pytest
from PIL import Image

from an_flax.data import sources



@dataclasses.dataclass(frozen=True)
class ImageFolder:
  root: pathlib.Path  # Holds train/<class>/<image>.
  colors: dict[str, tuple[int, int, int]]  # By class, in label order (sorted names).
  per_class: int  # Images in each class; image k is `colors + 3 k`.

  @property
  def size(self) -> int:
    return len(self.colors) * self.per_class


def _make_config(**dataset) -> ml_collections.ConfigDict:
  return ml_collections.ConfigDict(
      {'seed': 7, 'batch_size': 8, 'dataset': {'image_size': 32, **dataset}})


@pytest.fixture(scope='session')
def make_config():
  """config(**dataset_fields): seed 7, global batch 8, 32x32 images."""
  return _make_config


@pytest.fixture(scope='session')
def shapes_dir(tmp_path_factory) -> str:
  """A data_dir with symmetric_shapes/32x32 prepared once per session."""
  data_dir = str(tmp_path_factory.mktemp('tfds'))
  data = sources.DataConfig(name='symmetric_shapes', image_size=32, data_dir=data_dir)
  sources.prepare(data, 'train')
  return data_dir


@pytest.fixture(scope='session')
def image_folder(tmp_path_factory) -> ImageFolder:
  """Solid-colour PNGs and JPEGs of assorted, mostly non-square sizes."""
  folder = ImageFolder(root=tmp_path_factory.mktemp('folder'), per_class=7, colors={
      'apple': (200, 30, 30), 'grass': (30, 200, 30), 'sky': (30, 30, 200)})
  rng = np.random.default_rng(0)
  for name, color in folder.colors.items():
    class_dir = folder.root / 'train' / name
    class_dir.mkdir(parents=True)
    for k in range(folder.per_class):
      height, width = rng.integers(24, 80, size=2)
      # A per-image brightness offset makes every decoded image unique.
      pixels = np.clip(np.array(color) + 3 * k, 0, 255).astype(np.uint8)
      image = Image.fromarray(np.broadcast_to(pixels, (height, width, 3)).copy())
      image.save(class_dir / (f'{k}.png' if k % 2 else f'{k}.jpg'), quality=95)
  return folder
