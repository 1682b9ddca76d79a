"""Inpainting batches from the shared input pipeline, counted in batches, not GAN steps.

Everything is `an_flax.data.input_pipeline`'s: per-process slices, resumable shuffled
training batches, padded evaluation batches, centre crop and antialiased resize to
`config.dataset.image_size`, uint8 images. `dataset.name` is 'procedural_facades' (the
embedded facades, generated on first use), or any source of `an_flax.data.sources` such
as 'image_folder' (`<data_dir>/<split>/<class>/*`: put Paris StreetView as
`paris/train/all/*.png` and `paris/test/all/*.png`).
"""

import math
from typing import Dict, Iterator

import jax
import ml_collections
import numpy as np
import tensorflow_datasets as tfds

from an_flax.data import input_pipeline, sources

Batch = Dict[str, np.ndarray]


def _prepared(config: ml_collections.ConfigDict, split: str):
  data = sources.DataConfig.from_config(config)
  return data, sources.prepare(data, split)


def create_train_iterator(config: ml_collections.ConfigDict, start_batch: int = 0
                          ) -> Iterator[Batch]:
  """This process's training batches {'image': uint8, 'label'} from batch `start_batch` on."""
  data, builder = _prepared(config, config.dataset.split)
  records, count = sources.read_process_slice(
      builder, data.split, jax.process_index(), jax.process_count())
  ds = input_pipeline.train_dataset(
      records, count, seed=config.seed, start_step=start_batch,
      batch_size=input_pipeline.local_batch_size(config.batch_size, jax.process_count()),
      image_size=data.image_size, shuffle_buffer=data.shuffle_buffer, cache=data.cache)
  return iter(tfds.as_numpy(ds))


def create_eval_iterator(config: ml_collections.ConfigDict, split: str, batch_size: int,
                         max_examples: int = 0) -> Iterator[Batch]:
  """One ordered pass over `split`, or over its first `max_examples` if > 0.

  Batches are {'image', 'label', 'mask'}: 'mask' is the data pipeline's
  valid-example flag (False on padding), not a hole mask. With several
  processes each takes the first max_examples / process_count of its slice.
  """
  data, builder = _prepared(config, split)
  process_count = jax.process_count()
  local_batch = input_pipeline.local_batch_size(batch_size, process_count)
  records, _ = sources.read_process_slice(builder, split, jax.process_index(), process_count)
  per_process = math.ceil(sources.num_examples(builder, split) / process_count)
  if max_examples > 0:
    per_process = min(per_process, math.ceil(max_examples / process_count))
    records = records.take(per_process)
  ds = input_pipeline.eval_dataset(records, num_batches=math.ceil(per_process / local_batch),
                                   batch_size=local_batch, image_size=data.image_size)
  return iter(tfds.as_numpy(ds))
