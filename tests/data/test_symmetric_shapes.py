"""The embedded dataset: deterministic, well-formed, classes tellable apart."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow_datasets as tfds

from an_flax.data import sources
from an_flax.data import symmetric_shapes


def _load(data_dir: str, split: str) -> dict[str, np.ndarray]:
  builder = symmetric_shapes.SymmetricShapes(config='32x32', data_dir=data_dir)
  return tfds.as_numpy(builder.as_dataset(split=split, batch_size=-1))


def test_two_prepares_give_identical_examples(shapes_dir, tmp_path):
  data = sources.DataConfig(name='symmetric_shapes', image_size=32, data_dir=str(tmp_path))
  sources.prepare(data, 'test')
  first, second = _load(shapes_dir, 'test'), _load(str(tmp_path), 'test')
  np.testing.assert_array_equal(first['image'], second['image'])
  np.testing.assert_array_equal(first['label'], second['label'])


def test_examples_are_well_formed_and_balanced(shapes_dir):
  train = _load(shapes_dir, 'train')
  assert train['image'].dtype == np.uint8
  assert train['image'].shape == (5000, 32, 32, 3)
  assert set(np.unique(train['label'])) == set(range(symmetric_shapes.NUM_CLASSES))
  np.testing.assert_array_equal(np.bincount(train['label']), [500] * 10)
  assert len({image.tobytes() for image in train['image']}) == 5000


def test_classes_are_distinguishable(shapes_dir):
  train, test = _load(shapes_dir, 'train'), _load(shapes_dir, 'test')
  x = train['image'].astype(np.float64)
  means = np.stack([x[train['label'] == c].mean(0) for c in range(10)])
  rms = np.sqrt(((means[:, None] - means[None]) ** 2).mean(axis=(2, 3, 4)))
  assert rms[~np.eye(10, dtype=bool)].min() > 8.0
  # Nearest class mean already beats chance (0.1) by far.
  d = ((test['image'].astype(np.float64)[:, None] - means[None]) ** 2).sum(axis=(2, 3, 4))
  assert (d.argmin(1) == test['label']).mean() > 0.4


@pytest.mark.parametrize('label', range(10))
def test_images_repeat_their_shape_across_the_canvas(label):
  image, got = symmetric_shapes.render_example('train', label, 32)
  assert got == label
  # Foreground is saturated, background nearly grey. Noise and anti-aliasing may flip
  # a few edge pixels.
  shape = image.max(-1).astype(int) - image.min(-1) > 100
  if symmetric_shapes.class_layout(label) == 'mirror':
    copies = [(shape, shape[:, ::-1])]
  else:
    copies = [(shape[:16], shape[16:]), (shape[:, :16], shape[:, 16:])]
  for a, b in copies:
    assert (a != b).mean() < 0.05
  assert shape.sum() > 40


def test_64_pixel_variant():
  image, _ = symmetric_shapes.render_example('test', 3, 64)
  assert image.shape == (64, 64, 3) and image.dtype == np.uint8
