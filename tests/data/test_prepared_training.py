"""The issue's end-to-end check: prepare a tiny ILSVRC train tar, train from it, resume, and
the resumed run draws the batches an uninterrupted run would have."""

from __future__ import annotations

import itertools

import numpy as np

from an_flax.data import input_pipeline, prepare
from benchmarks import ilsvrc_tars


def test_training_from_prepared_data_resumes_with_the_same_batches(tmp_path, monkeypatch):
  from an_flax.runtime import run  # the run and the task only here
  from an_flax.training.task import GanTask
  from training.helpers import TINY, override
  from configs import base, default

  rng = np.random.default_rng(0)
  jpegs = {label: [ilsvrc_tars.encode_jpeg(
      rng.integers(0, 256, (int(rng.integers(30, 60)), int(rng.integers(30, 60)), 3),
                   dtype=np.uint8), 90) for _ in range(5)] for label in (0, 7, 999)}
  manual = tmp_path / 'manual'
  manual.mkdir()
  ilsvrc_tars.write_train_tar(manual, jpegs)
  config = override(default.get_config(), {
      **TINY, 'model.num_classes': 1000, 'dataset.name': 'imagenet2012',
      'dataset.data_dir': str(tmp_path / 'tfds'), 'dataset.manual_dir': str(manual),
      'dataset.prepared': base.get_config().dataset.prepared})
  assert prepare.prepare_split(config.dataset, 'train', num_workers=1) is not None

  drawn = {}  # start batch -> the batches the trainer's iterator yielded
  create = input_pipeline.create_train_iterator

  def recording(config, start_batch=0):
    drawn[start_batch] = batches = []
    for batch in create(config, start_batch):
      batches.append(batch)
      yield batch

  monkeypatch.setattr(input_pipeline, 'create_train_iterator', recording)
  config.num_train_steps = 2
  assert int(run.run_training(GanTask(config), str(tmp_path / 'run')).step) == 2
  config.num_train_steps = 4
  assert int(run.run_training(GanTask(config), str(tmp_path / 'run')).step) == 4  # resumed
  assert sorted(drawn) == [0, 2]

  uninterrupted = list(itertools.islice(create(config, 0), 4))
  for used, expected in zip(drawn[0][:2] + drawn[2][:2], uninterrupted, strict=True):
    np.testing.assert_array_equal(used['image'], expected['image'])
    np.testing.assert_array_equal(used['label'], expected['label'])
  assert set(np.concatenate([b['label'] for b in uninterrupted])) <= {0, 7, 999}
