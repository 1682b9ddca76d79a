"""Random horizontal flips of the training images (`config.dataset.random_flip`): each image
mirrored or not as its coin says, the coins a function of (seed, batch index, row), so a
resumed run and any process count flip the same images; both readers."""

from __future__ import annotations

import itertools

import jax
import ml_collections
import numpy as np
import pytest
from PIL import Image

from an_flax.data import flip, input_pipeline, prepare

NUM_IMAGES, SIZE = 12, 32


@pytest.fixture(scope='module')
def folder(tmp_path_factory) -> str:
  """Two classes of images that change from left to right, so a mirror image differs."""
  root = tmp_path_factory.mktemp('asymmetric')
  rng = np.random.default_rng(0)
  for k in range(NUM_IMAGES):
    directory = root / 'train' / f'class_{k % 2}'
    directory.mkdir(parents=True, exist_ok=True)
    ramp = np.linspace(0, 255, SIZE)[None, :, None] * rng.uniform(0.3, 1.0, 3)
    pixels = np.broadcast_to(ramp, (SIZE, SIZE, 3)).astype(np.uint8)
    Image.fromarray(pixels).save(directory / f'{k}.png')
  return str(root)


@pytest.fixture(scope='module')
def prepared_dir(folder, tmp_path_factory) -> str:
  directory = str(tmp_path_factory.mktemp('prepared'))
  dataset = {'name': 'image_folder', 'data_dir': folder, 'manual_dir': None,
             'image_size': SIZE, 'resizer': 'bilinear', 'prepared': directory}
  prepare.prepare_split(ml_collections.ConfigDict(dataset), 'train', num_workers=1)
  return directory


def _config(folder: str, prepared: str) -> ml_collections.ConfigDict:
  return ml_collections.ConfigDict({
      'seed': 3, 'batch_size': 4, 'dataset': {
          'name': 'image_folder', 'data_dir': folder, 'image_size': SIZE, 'cache': True,
          'shuffle_buffer': NUM_IMAGES, 'resizer': 'bilinear', 'prepared': prepared,
          'random_flip': False}})


@pytest.fixture(params=['tfds', 'prepared'])
def config(request, folder, prepared_dir):
  return _config(folder, prepared_dir if request.param == 'prepared' else '')


def _take(config, start_batch: int, count: int, random_flip: bool) -> list[dict]:
  config.dataset.random_flip = random_flip
  return list(itertools.islice(input_pipeline.create_train_iterator(config, start_batch), count))


def test_coins_are_a_function_of_seed_batch_and_row():
  coins = flip.flip_coins(5, 17, 4096)
  np.testing.assert_array_equal(coins, flip.flip_coins(5, 17, 4096))
  np.testing.assert_array_equal(coins[:100], flip.flip_coins(5, 17, 100))
  assert not np.array_equal(coins, flip.flip_coins(6, 17, 4096))
  assert not np.array_equal(coins, flip.flip_coins(5, 18, 4096))
  assert abs(coins.mean() - 0.5) < 0.05  # 4096 fair coins: 0.05 is 6 standard deviations


def test_each_image_is_mirrored_where_its_coin_says(config):
  plain = _take(config, 2, 6, random_flip=False)
  flipped = _take(config, 2, 6, random_flip=True)
  mirrored = 0
  for index, (a, b) in enumerate(zip(plain, flipped, strict=True), start=2):
    np.testing.assert_array_equal(a['label'], b['label'])
    coins = flip.flip_coins(config.seed, index, config.batch_size)
    for coin, image, seen in zip(coins, a['image'], b['image'], strict=True):
      assert not np.array_equal(image, image[:, ::-1])  # a mirror image shows
      np.testing.assert_array_equal(seen, image[:, ::-1] if coin else image)
      mirrored += coin
  assert 0 < mirrored < 24


def test_a_resumed_iterator_flips_what_the_uninterrupted_one_did(config):
  uninterrupted = _take(config, 0, 7, random_flip=True)
  resumed = _take(config, 4, 3, random_flip=True)
  for a, b in zip(uninterrupted[4:], resumed, strict=True):
    np.testing.assert_array_equal(a['image'], b['image'])


def test_prepared_flips_do_not_depend_on_the_process_count(folder, prepared_dir, monkeypatch):
  """Process p of 2 holds global rows p, p + 2 of the prepared records: their images,
  flipped as in one process. (The TFDS path gives each process a slice of its own.)"""
  config = _config(folder, prepared_dir)
  single = _take(config, 1, 3, random_flip=True)
  parts = []
  for index in range(2):
    monkeypatch.setattr(jax, 'process_index', lambda index=index: index)
    monkeypatch.setattr(jax, 'process_count', lambda: 2)
    parts.append(_take(config, 1, 3, random_flip=True))
  for whole, part_0, part_1 in zip(single, *parts, strict=True):
    np.testing.assert_array_equal(whole['image'][0::2], part_0['image'])
    np.testing.assert_array_equal(whole['image'][1::2], part_1['image'])
