"""Training and eval pipelines: resume determinism, per-process slices, image folders."""

from __future__ import annotations

import itertools

import jax
import numpy as np
import pytest

from an_flax.data import input_pipeline
from an_flax.data import sources


@pytest.fixture
def shapes_config(make_config, shapes_dir):
  return make_config(name='symmetric_shapes', data_dir=shapes_dir, split='train[:500]',
                     shuffle_buffer=100)


@pytest.fixture
def folder_config(make_config, image_folder):
  return make_config(name='image_folder', data_dir=str(image_folder.root), shuffle_buffer=8)


def _take(config, start_batch: int, count: int) -> list[dict[str, np.ndarray]]:
  iterator = input_pipeline.create_train_iterator(config, start_batch=start_batch)
  return list(itertools.islice(iterator, count))


def _records(batches) -> list[bytes]:
  """The images of `batches` in order, as hashable ids."""
  return [image.tobytes() for batch in batches for image in batch['image']]


def _assert_same(batches_a, batches_b) -> None:
  assert len(batches_a) == len(batches_b)
  for a, b in zip(batches_a, batches_b):
    np.testing.assert_array_equal(a['image'], b['image'])
    np.testing.assert_array_equal(a['label'], b['label'])


@pytest.mark.parametrize('source, batch_size, start_batch', [
    ('shapes', 16, 40),  # 640 records: epoch 1 of 500, offset 140.
    ('folder', 4, 13),   # 52 records: epoch 2 of 21, offset 10.
])
def test_starting_at_batch_k_equals_advancing_k_batches(source, batch_size, start_batch,
                                                     request):
  config = request.getfixturevalue(f'{source}_config')
  config.batch_size = batch_size
  from_zero = _take(config, 0, start_batch + 4)
  resumed = _take(config, start_batch, 4)
  _assert_same(from_zero[start_batch:], resumed)
  batch = resumed[0]
  assert batch['image'].dtype == np.uint8 and batch['image'].shape == (batch_size, 32, 32, 3)
  assert batch['label'].dtype == np.int32 and batch['label'].shape == (batch_size,)


def test_each_epoch_is_a_new_permutation(folder_config, image_folder):
  folder_config.batch_size = 3
  n = image_folder.size
  records = _records(_take(folder_config, 0, 4 * n // 3))
  epochs = [records[i:i + n] for i in range(0, 4 * n, n)]
  for epoch in epochs:
    assert len(set(epoch)) == n
    assert set(epoch) == set(epochs[0])
  assert len({tuple(epoch) for epoch in epochs}) == 4


def test_order_depends_on_seed_and_not_on_cache(folder_config):
  folder_config.batch_size = 4
  reference = _take(folder_config, 3, 8)
  folder_config.dataset.cache = True
  _assert_same(reference, _take(folder_config, 3, 8))
  folder_config.seed += 1
  assert _records(reference) != _records(_take(folder_config, 3, 8))


@pytest.mark.parametrize('source, split, process_count', [
    ('shapes', 'test', 2),  # TFDS sub-splits.
    ('folder', 'train', 3),  # ImageFolder: sharded file list.
])
def test_process_slices_are_disjoint_and_cover_the_split(source, split, process_count,
                                                         request):
  data = sources.DataConfig.from_config(request.getfixturevalue(f'{source}_config'))
  builder = sources.get_builder(data)
  slices = []
  for index in range(process_count):
    records, count = sources.read_process_slice(builder, split, index, process_count)
    ids = [example['image'] for example in records.as_numpy_iterator()]
    assert len(ids) == count
    slices.append(set(ids))
  total = sources.num_examples(builder, split)
  assert sum(len(s) for s in slices) == total
  assert len(set.union(*slices)) == total
  assert max(map(len, slices)) - min(map(len, slices)) <= 1


def _as_process(monkeypatch, index: int, count: int) -> None:
  monkeypatch.setattr(jax, 'process_index', lambda: index)
  monkeypatch.setattr(jax, 'process_count', lambda: count)


def test_processes_train_on_disjoint_halves(folder_config, monkeypatch):
  folder_config.batch_size = 8  # 4 a process; the slices hold 11 and 10 images.
  epochs = []
  for index, size in ((0, 11), (1, 10)):
    _as_process(monkeypatch, index, 2)
    batches = _take(folder_config, 0, 3)
    assert batches[0]['image'].shape[0] == 4
    epochs.append(set(_records(batches)[:size]))
    assert len(epochs[-1]) == size
  assert not epochs[0] & epochs[1]


def test_image_folder_labels_and_colours(folder_config, image_folder):
  assert input_pipeline.check_available(folder_config) == len(image_folder.colors)
  batches = list(input_pipeline.create_eval_dataset(folder_config, 'train'))
  mask = np.concatenate([b['mask'] for b in batches])
  images = np.concatenate([b['image'] for b in batches])[mask].astype(int)
  labels = np.concatenate([b['label'] for b in batches])[mask]
  assert len(labels) == image_folder.size
  np.testing.assert_array_equal(np.bincount(labels), [image_folder.per_class] * 3)
  colors = np.array(list(image_folder.colors.values()))
  for image, label in zip(images, labels):
    offset = image.mean((0, 1)) - colors[label]
    assert np.all(offset > -4) and np.all(offset < 3 * image_folder.per_class + 4)
    assert np.ptp(image, axis=(0, 1)).max() <= 4  # Still one flat colour.


def test_eval_batches_are_padded_alike_on_every_process(folder_config, monkeypatch):
  folder_config.batch_size = 8
  for index, size in ((0, 11), (1, 10)):
    _as_process(monkeypatch, index, 2)
    batches = list(input_pipeline.create_eval_dataset(folder_config, 'train'))
    assert len(batches) == 3  # ceil(11 / 4) on both processes.
    mask = np.concatenate([b['mask'] for b in batches])
    np.testing.assert_array_equal(mask, np.arange(12) < size)
    assert not np.concatenate([b['image'] for b in batches])[~mask].any()


def test_shapes_metadata(shapes_config):
  assert input_pipeline.check_available(shapes_config) == 10
  assert input_pipeline.image_shape(shapes_config) == (32, 32, 3)
