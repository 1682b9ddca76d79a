"""Per-process batches {'image': uint8 (B, H, W, 3), 'label': int32 (B,)} for training and eval.

Config fields read: `config.dataset.*` (see `sources.DataConfig`), `config.batch_size`
(global; each of the `jax.process_count()` processes yields `batch_size // process_count`)
and `config.seed` (default 0).

Resume determinism. Each process reads its own slice of n records in a fixed order.
Its stream of records is epoch 0, epoch 1, ..., where epoch e is the slice passed
through a shuffle buffer seeded by (seed, e); batch k is records [k B, (k + 1) B) of
that stream. So the batches are a pure function of (seed, batch index, process index
and count, data on disk), and an iterator started at batch k starts the stream at epoch
k B // n and skips k B % n records before decoding them: a resume costs reading less
than one epoch of undecoded records (with `cache`, of cached images) plus filling
the shuffle buffer, however large k is. The order also depends on the TF global
seed if anyone sets one (`tf.random.set_seed`), and on the tf.data shuffle algorithm
of the TensorFlow version. Batches run across epoch boundaries, so no example is
dropped.

Limitation: a shuffle buffer mixes each epoch only within about `shuffle_buffer`
records of the on-disk order (which TFDS already shuffled when it wrote the data).

With `config.dataset.prepared` set, every function here reads the prepared records instead
(`an_flax.data.prepared`: the PyTorch loaders' pixels, a global shuffle per epoch).
"""

from __future__ import annotations

import functools
import math
from typing import Iterator

import jax
import ml_collections
import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds

from an_flax.data import flip
from an_flax.data import prepared
from an_flax.data import preprocess
from an_flax.data import sources

# tf.data runs on the host: keep TensorFlow off the accelerators JAX uses.
tf.config.set_visible_devices([], 'GPU')
tf.config.set_visible_devices([], 'TPU')

Batch = dict[str, np.ndarray]


def check_available(config: ml_collections.ConfigDict, split: str | None = None) -> int:
  """Checks that the configured data can be read (or generated); returns its class count.

  Metadata only: nothing is read or prepared, so it runs before any model is built.
  """
  data = sources.DataConfig.from_config(config)
  if data.prepared:
    return prepared.open_split(data, split or data.split).num_classes
  builder = sources.get_builder(data)
  sources.check_available(builder, data, split or data.split)
  return builder.info.features['label'].num_classes


def prepare(config: ml_collections.ConfigDict, split: str | None = None) -> None:
  """Makes the configured split (default: the training split) readable, generating the
  data where that needs no download (see `sources.prepare`)."""
  data = sources.DataConfig.from_config(config)
  if data.prepared:  # Prepared beforehand by `python -m an_flax.data.prepare`.
    prepared.open_split(data, split or data.split)
    return
  sources.prepare(data, split or data.split)


def image_shape(config: ml_collections.ConfigDict) -> tuple[int, int, int]:
  size = config.dataset.image_size
  return (size, size, 3)


def local_batch_size(global_batch_size: int, process_count: int) -> int:
  if global_batch_size % process_count:
    raise ValueError(f'Batch size {global_batch_size} is not divisible by the '
                     f'{process_count} processes.')
  return global_batch_size // process_count


def _epoch_seed(seed: int, epoch: tf.Tensor) -> tf.Tensor:
  # tf.data keeps op seeds modulo 2**31 - 1: distinct for the first 10**6 epochs.
  return tf.constant(seed * 1_000_003 % (2**31 - 1), tf.int64) + epoch


def train_dataset(records: tf.data.Dataset, num_records: int, *, seed: int,
                  start_batch: int, batch_size: int, image_size: int,
                  shuffle_buffer: int, cache: bool) -> tf.data.Dataset:
  """Endless batches from `records` (a fixed-order slice), starting at batch `start_batch`.

  See the module docstring for the order and what starting late costs.
  """
  if num_records < 1:
    raise ValueError('This process has no training examples.')
  decode = functools.partial(preprocess.decode_example, size=image_size)
  if cache:
    records = records.map(decode, num_parallel_calls=tf.data.AUTOTUNE).cache()
  first_epoch, offset = divmod(start_batch * batch_size, num_records)

  def epoch(e: tf.Tensor) -> tf.data.Dataset:
    return records.shuffle(shuffle_buffer, seed=_epoch_seed(seed, e),
                           reshuffle_each_iteration=False)

  ds = tf.data.Dataset.counter(first_epoch).flat_map(epoch).skip(offset)
  if not cache:
    ds = ds.map(decode, num_parallel_calls=tf.data.AUTOTUNE)
  ds = ds.batch(batch_size, drop_remainder=True).prefetch(tf.data.AUTOTUNE)
  return ds.with_options(sources.deterministic_options())


def create_train_iterator(config: ml_collections.ConfigDict,
                          start_batch: int = 0) -> Iterator[Batch]:
  """This process's training batches from batch `start_batch` on (see the module docstring),
  flipped at random with `config.dataset.random_flip` (`an_flax.data.flip`).

  A step that takes several batches (one per D or critic update) starts at
  `step * batches_per_step`.
  """
  data = sources.DataConfig.from_config(config)
  seed, index, count = config.get('seed', 0), jax.process_index(), jax.process_count()
  local = local_batch_size(config.batch_size, count)
  if data.prepared:
    batches = prepared.train_batches(
        prepared.open_split(data, data.split), seed=seed, start_batch=start_batch,
        local_batch_size=local, process_index=index, process_count=count)
    rows = prepared.process_rows(index, count, local)
  else:
    builder = sources.prepare(data, data.split)
    records, num_records = sources.read_process_slice(builder, data.split, index, count)
    ds = train_dataset(
        records, num_records, seed=seed, start_batch=start_batch, batch_size=local,
        image_size=data.image_size, shuffle_buffer=data.shuffle_buffer, cache=data.cache)
    batches = iter(tfds.as_numpy(ds))
    rows = index * local + np.arange(local)  # each process reads a slice of its own
  if not data.random_flip:
    return batches
  return flip.random_flips(batches, seed=seed, start_batch=start_batch, rows=rows,
                           global_batch_size=local * count)


def eval_dataset(records: tf.data.Dataset, *, num_batches: int, batch_size: int,
                 image_size: int) -> tf.data.Dataset:
  """`num_batches` batches of `records` in order, padded with masked-out examples.

  Every example appears once with 'mask' True; padding has a zero image, label 0 and
  'mask' False, so the last batch is full and all processes yield the same number of
  batches (which collective evaluation steps need).
  """
  def decode(example: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
    return {**preprocess.decode_example(example, image_size), 'mask': True}

  padding = tf.data.Dataset.from_tensors({
      'image': tf.zeros((image_size, image_size, 3), tf.uint8),
      'label': tf.constant(0, tf.int32),
      'mask': False,
  }).repeat()
  ds = records.map(decode, num_parallel_calls=tf.data.AUTOTUNE).concatenate(padding)
  ds = ds.take(num_batches * batch_size).batch(batch_size).prefetch(tf.data.AUTOTUNE)
  return ds.with_options(sources.deterministic_options())


def create_eval_dataset(config: ml_collections.ConfigDict, split: str,
                        batch_size: int | None = None, max_examples: int = 0,
                        global_order: bool = False) -> Iterator[Batch]:
  """One pass over `split` (its first `max_examples` when > 0): this process's
  {'image', 'label', 'mask'} batches.

  `batch_size` is global (default `config.batch_size`); see `eval_dataset` for padding.
  By default each process reads a slice of its own: the cheap way, for what does not
  depend on which examples share a batch (statistics). With `global_order` every process
  reads the whole split and keeps its rows of each global batch, so global batch k is
  examples [k B, (k + 1) B) whatever the process count: what a protocol keyed by the
  batch needs (inpainting's fixed holes). `max_examples` needs `global_order`. Prepared
  records are read in global order always: random access makes it free.
  """
  data = sources.DataConfig.from_config(config)
  if max_examples and not (global_order or data.prepared):
    raise ValueError('max_examples takes the first examples of the whole split: pass '
                     'global_order=True.')
  process_count, index = jax.process_count(), jax.process_index()
  global_batch = batch_size or config.batch_size
  local_batch = local_batch_size(global_batch, process_count)
  if data.prepared:  # random access: each process reads only its rows, in global order
    return prepared.eval_batches(
        prepared.open_split(data, split), global_batch_size=global_batch,
        max_examples=max_examples, process_index=index, process_count=process_count)
  builder = sources.prepare(data, split)
  if not global_order:
    records, _ = sources.read_process_slice(builder, split, index, process_count)
    largest_slice = math.ceil(sources.num_examples(builder, split) / process_count)
    ds = eval_dataset(records, num_batches=math.ceil(largest_slice / local_batch),
                      batch_size=local_batch, image_size=data.image_size)
    return iter(tfds.as_numpy(ds))
  records, count = sources.read_process_slice(builder, split, 0, 1)
  if max_examples > 0:
    count = min(count, max_examples)
    records = records.take(count)
  ds = eval_dataset(records, num_batches=math.ceil(count / global_batch),
                    batch_size=global_batch, image_size=data.image_size)
  rows = slice(index * local_batch, (index + 1) * local_batch)
  ds = ds.map(lambda batch: {key: value[rows] for key, value in batch.items()})
  return iter(tfds.as_numpy(ds))
