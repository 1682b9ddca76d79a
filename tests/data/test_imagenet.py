"""TFDS's real imagenet2012 builder on a tiny ILSVRC-format tar, and the missing-tar errors."""

from __future__ import annotations

import pathlib

import numpy as np
import pytest

from an_flax.data import input_pipeline
from benchmarks import ilsvrc_tars

SYNSET_COLORS = {  # label index in TFDS's labels.txt -> solid colour
    0: (220, 40, 40),
    1: (40, 220, 40),
    999: (40, 40, 220),
}
VAL_IMAGES = 3


def _synset_images(color: tuple[int, int, int], label: int) -> list[np.ndarray]:
  """Landscape, portrait and square RGB images, plus a grayscale one for label 0.

  The landscape one is 64x32 with blue bands outside its centre square (16-pixel
  aligned, so JPEG keeps them apart): only a centre crop shows the synset colour alone.
  """
  landscape = np.zeros((32, 64, 3), np.uint8)
  landscape[:] = (0, 0, 255)
  landscape[:, 16:48] = color
  images = [landscape,
            np.full((50, 40, 3), color, np.uint8),
            np.full((40, 50, 3), color, np.uint8),
            np.full((48, 48, 3), color, np.uint8)]
  if label == 0:
    images.append(np.full((40, 50), 128, np.uint8))  # Grayscale JPEG.
  return images


def _write_train_tar(manual_dir: pathlib.Path) -> int:
  """ILSVRC2012_img_train.tar with the images of `SYNSET_COLORS`; returns their count."""
  jpegs = {label: [ilsvrc_tars.encode_jpeg(pixels, quality=95)
                   for pixels in _synset_images(color, label)]
           for label, color in SYNSET_COLORS.items()}
  ilsvrc_tars.write_train_tar(manual_dir, jpegs)
  return sum(len(images) for images in jpegs.values())


def _write_val_tar(manual_dir: pathlib.Path) -> list[int]:
  """ILSVRC2012_img_val.tar of grey images; returns their labels (TFDS's package's)."""
  return ilsvrc_tars.write_validation_tar(manual_dir, [
      ilsvrc_tars.encode_jpeg(np.full((40, 60, 3), 10 * k + 10, np.uint8), quality=95)
      for k in range(VAL_IMAGES)])


@pytest.fixture(scope='module')
def imagenet(tmp_path_factory, make_config):
  root = tmp_path_factory.mktemp('imagenet')
  (root / 'manual').mkdir()
  count = _write_train_tar(root / 'manual')
  val_labels = _write_val_tar(root / 'manual')
  config = make_config(name='imagenet2012', data_dir=str(root / 'tfds'),
                       manual_dir=str(root / 'manual'))
  return config, count, val_labels


def test_tiny_tar_gives_correct_labels_and_centre_crops(imagenet):
  config, count, _ = imagenet
  assert input_pipeline.check_available(config) == 1000
  batches = list(input_pipeline.create_eval_dataset(config, 'train'))
  images = np.concatenate([b['image'] for b in batches])
  labels = np.concatenate([b['label'] for b in batches])
  mask = np.concatenate([b['mask'] for b in batches])
  assert images.dtype == np.uint8 and images.shape[1:] == (32, 32, 3)
  assert labels.dtype == np.int32
  assert mask.sum() == count and len(mask) % 8 == 0
  images, labels = images[mask], labels[mask]
  assert sorted(set(labels)) == sorted(SYNSET_COLORS)
  grays = 0
  for image, label in zip(images.astype(int), labels):
    if np.ptp(image.mean((0, 1))) < 4:  # The grayscale JPEG, now RGB.
      grays += 1
      assert label == 0
      np.testing.assert_allclose(image, 128, atol=6)
    else:  # Edge columns: the bands' chroma, upsampled across the boundary as PIL decodes.
      np.testing.assert_allclose(image[:, 1:-1], np.broadcast_to(
          SYNSET_COLORS[label], image[:, 1:-1].shape), atol=12)
  assert grays == 1


def test_train_iterator_yields_uint8_batches(imagenet):
  config, _, _ = imagenet
  batch = next(input_pipeline.create_train_iterator(config, start_batch=3))
  assert batch['image'].shape == (8, 32, 32, 3) and batch['image'].dtype == np.uint8
  assert batch['label'].shape == (8,) and batch['label'].dtype == np.int32
  assert set(batch['label']) <= set(SYNSET_COLORS)


def test_validation_labels_come_from_the_package(imagenet):
  config, _, val_labels = imagenet
  batch, = input_pipeline.create_eval_dataset(config, 'validation', batch_size=8)
  np.testing.assert_array_equal(batch['mask'], [True] * VAL_IMAGES + [False] * 5)
  # TFDS stores examples in its own order: image k is grey level 10 (k + 1).
  ks = np.round(batch['image'][:VAL_IMAGES].mean((1, 2, 3)) / 10).astype(int) - 1
  np.testing.assert_array_equal(sorted(ks), range(VAL_IMAGES))
  np.testing.assert_array_equal(batch['label'][:VAL_IMAGES], np.array(val_labels)[ks])
  np.testing.assert_array_equal(batch['image'][VAL_IMAGES:], 0)


def test_missing_tars_are_named_with_default_paths(tmp_path, make_config):
  config = make_config(name='imagenet2012', data_dir=str(tmp_path))
  manual = tmp_path / 'downloads' / 'manual'
  with pytest.raises(FileNotFoundError) as error:
    input_pipeline.create_train_iterator(config)
  assert str(manual / 'ILSVRC2012_img_train.tar') in str(error.value)
  assert str(manual / 'ILSVRC2012_img_val.tar') in str(error.value)


def test_missing_val_tar_is_named_in_manual_dir(tmp_path, make_config):
  manual = tmp_path / 'my_tars'
  manual.mkdir()
  _write_train_tar(manual)
  config = make_config(name='imagenet2012', data_dir=str(tmp_path / 'tfds'),
                       manual_dir=str(manual))
  with pytest.raises(FileNotFoundError) as error:
    input_pipeline.create_train_iterator(config)
  assert str(manual / 'ILSVRC2012_img_val.tar') in str(error.value)
  assert 'ILSVRC2012_img_train.tar' not in str(error.value)


def test_split_prepared_without_its_tar_names_the_tar(tmp_path, make_config):
  manual = tmp_path / 'manual'
  manual.mkdir()
  _write_val_tar(manual)
  config = make_config(name='imagenet2012', data_dir=str(tmp_path / 'tfds'),
                       manual_dir=str(manual))
  assert len(list(input_pipeline.create_eval_dataset(config, 'validation'))) == 1
  with pytest.raises(ValueError, match='ILSVRC2012_img_train.tar'):
    input_pipeline.create_train_iterator(config)


def test_cifar10_is_never_downloaded(tmp_path, make_config):
  config = make_config(name='cifar10', data_dir=str(tmp_path))
  for check in (input_pipeline.check_available, input_pipeline.create_train_iterator):
    with pytest.raises(FileNotFoundError, match='never downloads'):
      check(config)


def test_short_training_run_consumes_the_tiny_tar(imagenet, tmp_path):
  """train.py's loop on the real imagenet2012 builder: two G steps, one checkpoint."""
  from an_flax.training.trainer import train_and_evaluate  # imports the trainer only here
  from training.helpers import TINY, override
  from configs import default

  data_config, _, _ = imagenet
  config = override(default.get_config(), {
      **TINY, "num_train_steps": 2, "batch_size": 8, "model.num_classes": 1000,
      "dataset.name": "imagenet2012", "dataset.data_dir": data_config.dataset.data_dir,
      "dataset.manual_dir": data_config.dataset.manual_dir, "dataset.cache": False,
      "dataset.shuffle_buffer": 16})
  state = train_and_evaluate(config, str(tmp_path / 'run'))
  assert int(state.step) == 2
  assert (tmp_path / 'run' / 'checkpoints' / '2').is_dir()
