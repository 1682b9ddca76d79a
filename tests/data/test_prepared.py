"""Reading a prepared split: a global shuffle per epoch that resumes at any batch, each
process's part of every global batch, padded eval passes, and the FID command line."""

from __future__ import annotations

import itertools
import math

import jax
import ml_collections
import numpy as np
import pytest

from an_flax.data import input_pipeline, prepare, records
from an_flax.metrics import fid, networks


@pytest.fixture(scope='module')
def prepared_dir(image_folder, tmp_path_factory) -> str:
  """The shared image folder (21 images, 3 classes) prepared at 32x32 in 3 shards."""
  directory = str(tmp_path_factory.mktemp('prepared'))
  dataset = {'name': 'image_folder', 'data_dir': str(image_folder.root), 'manual_dir': None,
             'image_size': 32, 'resizer': 'bilinear', 'prepared': directory}
  prepare.prepare_split(ml_collections.ConfigDict(dataset), 'train', num_workers=1,
                        images_per_shard=8)
  return directory


@pytest.fixture
def config(make_config, image_folder, prepared_dir):
  return make_config(name='image_folder', data_dir=str(image_folder.root),
                     prepared=prepared_dir, resizer='bilinear')


def _take(config, start_batch: int, count: int) -> list[dict[str, np.ndarray]]:
  iterator = input_pipeline.create_train_iterator(config, start_batch=start_batch)
  return list(itertools.islice(iterator, count))


def _names(batches) -> list[bytes]:
  """The images of `batches` in order, as hashable ids (every image of the folder differs)."""
  return [image.tobytes() for batch in batches for image in batch['image']]


def _as_process(monkeypatch, index: int, count: int) -> None:
  monkeypatch.setattr(jax, 'process_index', lambda: index)
  monkeypatch.setattr(jax, 'process_count', lambda: count)


def _all_images(prepared_dir: str) -> list[bytes]:
  return [image.tobytes() for image, _, _ in
          records.iterate(records.open_split(f'{prepared_dir}/train', ''))]


def test_each_epoch_is_a_new_permutation_of_the_whole_split(config, prepared_dir):
  config.batch_size = 3
  everything = _all_images(prepared_dir)
  n = len(everything)  # 21: 7 batches an epoch.
  batches = _take(config, 0, 4 * n // 3)
  assert batches[0]['image'].shape == (3, 32, 32, 3) and batches[0]['image'].dtype == np.uint8
  assert batches[0]['label'].dtype == np.int32
  order = _names(batches)
  epochs = [order[i:i + n] for i in range(0, 4 * n, n)]
  for epoch in epochs:
    assert sorted(epoch) == sorted(everything)
  assert len({tuple(epoch) for epoch in epochs}) == 4
  assert epochs[0] != everything  # Shuffled, not the on-disk order.


def test_order_depends_on_the_seed_only(config):
  config.batch_size = 4
  reference = _take(config, 3, 6)
  assert _names(reference) == _names(_take(config, 3, 6))
  config.seed += 1
  assert _names(reference) != _names(_take(config, 3, 6))


@pytest.mark.parametrize('process_count', [1, 2])
def test_starting_at_batch_k_equals_advancing_k_batches(config, monkeypatch, process_count):
  config.batch_size = 4  # 21 records: batch 13 starts in epoch 2 at offset 10.
  for index in range(process_count):
    _as_process(monkeypatch, index, process_count)
    from_zero = _take(config, 0, 17)
    resumed = _take(config, 13, 4)
    for a, b in zip(from_zero[13:], resumed, strict=True):
      np.testing.assert_array_equal(a['image'], b['image'])
      np.testing.assert_array_equal(a['label'], b['label'])


def test_each_process_reads_its_part_of_every_global_batch(config, monkeypatch):
  config.batch_size = 6
  single = _take(config, 5, 4)
  parts = []
  for index in range(2):
    _as_process(monkeypatch, index, 2)
    parts.append(_take(config, 5, 4))
  for whole, part_0, part_1 in zip(single, *parts, strict=True):
    assert part_0['image'].shape[0] == 3
    for key in ('image', 'label'):  # Process p holds global rows p, p + 2, p + 4.
      np.testing.assert_array_equal(whole[key][0::2], part_0[key])
      np.testing.assert_array_equal(whole[key][1::2], part_1[key])


def test_labels_are_the_records_labels(config, prepared_dir):
  split = records.open_split(f'{prepared_dir}/train', '')
  label_of = {image.tobytes(): label for image, label, _ in records.iterate(split)}
  for batch in _take(config, 0, 3):
    for image, label in zip(batch['image'], batch['label']):
      assert label_of[image.tobytes()] == label


@pytest.mark.parametrize('process_count, max_examples', [(1, 0), (2, 0), (2, 9), (4, 9)])
def test_eval_global_batches_are_the_same_for_any_process_count(
    config, monkeypatch, prepared_dir, process_count, max_examples):
  """Global batch k is records [8 k, 8 k + 8) of the split (its first max_examples), padded
  at its end, whatever the process count; every process runs as many batches."""
  everything = _all_images(prepared_dir)
  wanted = everything[:max_examples] if max_examples else everything
  per_process = []
  for index in range(process_count):
    _as_process(monkeypatch, index, process_count)
    per_process.append(list(input_pipeline.create_eval_dataset(
        config, 'train', batch_size=8, max_examples=max_examples)))
  assert len({len(batches) for batches in per_process}) == 1
  assert len(per_process[0]) == math.ceil(len(wanted) / 8)
  seen = []
  for parts in zip(*per_process):  # a global batch: the processes' rows in process order
    images = np.concatenate([part['image'] for part in parts])
    mask = np.concatenate([part['mask'] for part in parts])
    assert images.shape[0] == 8 and not images[~mask].any()
    assert mask[:mask.sum()].all()  # padding at the end of the global batch only
    seen += [image.tobytes() for image in images[mask]]
  assert seen == wanted


def test_class_count_and_a_missing_split_name_the_prepare_command(config, monkeypatch):
  assert input_pipeline.check_available(config) == 3
  monkeypatch.setattr('sys.argv', ['train.py', '--config=configs/x.py', '--workdir=w',
                                   '--config.dataset.resizer=bilinear'])
  with pytest.raises(FileNotFoundError) as error:
    input_pipeline.check_available(config, 'validation')
  assert ('Prepare it once with `python -m an_flax.data.prepare --config=configs/x.py '
          '--config.dataset.resizer=bilinear --split=validation`') in str(error.value)
  config.dataset.resizer = 'lanczos'
  with pytest.raises(ValueError, match="holds resizer 'bilinear' but config.dataset.resizer"):
    input_pipeline.create_train_iterator(config)


def _pixel_features(images, process_local=False):
  """Features: the first 5 uint8 values of each image, so statistics are checkable."""
  return np.asarray(images, np.float64).reshape(len(images), -1)[:, :5], None


def _assert_statistics_of_the_records(mu, sigma, prepared_dir):
  pixels = np.stack([np.frombuffer(image, np.uint8)[:5] for image in _all_images(prepared_dir)])
  np.testing.assert_allclose(mu, pixels.mean(0), rtol=1e-12)
  np.testing.assert_allclose(sigma, np.cov(pixels, rowvar=False), rtol=1e-9)


def test_fid_command_line_reads_a_prepared_split(prepared_dir):
  network = networks.FeatureNetwork(None, _pixel_features)
  side = fid.measure(f'{prepared_dir}/train', network, batch_size=4, keep_logits=False)
  _assert_statistics_of_the_records(side.statistics.mu, side.statistics.sigma, prepared_dir)


def test_reference_statistics_read_the_records(config, prepared_dir, tmp_path):
  """eval.py --mode=reference's pass, on the prepared records."""
  from an_flax.evaluation import reference  # pylint: disable=g-import-not-at-top
  config.sampling = ml_collections.ConfigDict({'batch_size': 8})
  entry = ml_collections.ConfigDict({
      'reference_stats': str(tmp_path / 'train.npz'), 'reference_class_stats': '',
      'reference_split': 'train'})
  provenance = reference.compute_reference(config, entry, 'evals.fid',
                                           networks.FeatureNetwork(None, _pixel_features), {})
  assert provenance['num_images'] == 21
  assert provenance['preprocessing'].startswith('prepared records')
  assert 'PIL bilinear resize to 32x32' in provenance['preprocessing']
  with np.load(tmp_path / 'train.npz') as stats:
    _assert_statistics_of_the_records(stats['mu'], stats['sigma'], prepared_dir)
