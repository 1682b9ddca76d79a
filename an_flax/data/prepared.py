"""Training and eval batches from a prepared split (`an_flax.data.prepare`), read with grain.

Training order. Epoch e of the split is a permutation of its n records, grain's
`MapDataset.shuffle` (the index shuffle grain's IndexSampler is built on: O(1) for any
position, nothing materialised) seeded by a 32-bit seed derived from `config.seed`, plus
e, so every epoch is a new permutation of the whole split. Global position g (epoch
g // n) holds record perm_e(g % n); global batch k is positions [k B, (k + 1) B), and
process p of P reads positions k B + p, k B + p + P, ...: its own B / P of every global
batch. So the batches are
a function of the seed, the batch index and the process count only, and an iterator
started at batch k slices the position sequence at k B: a resume costs nothing, however far
in. Batches run across epoch boundaries. Reads are random accesses into the ArrayRecord
shards (one record per chunk), done by grain's reading threads and prefetched.

Eval order: the split in its on-disk order, global batch k being records [k B, (k + 1) B)
whatever the process count (process p reads only its rows of each), padded as
`input_pipeline.eval_dataset` pads.
"""

from __future__ import annotations

import math
import os
import shlex
import sys
from collections.abc import Iterator
from typing import Any

import grain
import numpy as np

from an_flax.data import records

Batch = dict[str, np.ndarray]
READ_THREADS = min(16, len(os.sched_getaffinity(0)))


def prepare_command(split: str) -> str:
  """The command preparing `split` with this command line's config and dataset overrides."""
  argv, config = sys.argv[1:], ['--config=<your config file>']
  for i, arg in enumerate(argv):
    if arg.startswith('--config='):
      config = [arg]
    elif arg == '--config' and i + 1 < len(argv):
      config = [f'--config={argv[i + 1]}']
  overrides = [arg for arg in argv if arg.startswith('--config.dataset.')]
  return shlex.join(['python', '-m', 'an_flax.data.prepare', *config, *overrides,
                     f'--split={split}'])


def open_split(dataset: Any, split: str) -> records.PreparedSplit:
  """The prepared `split` of `config.dataset` (or a `sources.DataConfig`), checked against
  its image size and resizer; an error with the command that prepares it when it is not."""
  if '[' in split or '+' in split:
    raise ValueError(f'Split {split!r}: prepared data are read by whole splits (no slices or '
                     'sums); set config.dataset.prepared="" to read it through TFDS.')
  directory = os.path.join(records.prepared_root(dataset), split)
  prepared = records.open_split(directory, f'Prepare it once with `{prepare_command(split)}` '
                                '(or set config.dataset.prepared="" to read the source '
                                'through TFDS on the fly).')
  for field, value in (('image_size', dataset.image_size), ('resizer', dataset.resizer)):
    if prepared.manifest[field] != value:
      raise ValueError(f'{directory} holds {field} {prepared.manifest[field]!r} but '
                       f'config.dataset.{field} is {value!r}: prepare that {field} into its '
                       f'own directory with `{prepare_command(split)}`.')
  return prepared


def _example(record: bytes) -> Batch:
  image, label, _ = records.decode_record(record)
  return {'image': image, 'label': np.int32(label)}


def _read(dataset: grain.MapDataset) -> Iterator[Batch]:
  options = grain.ReadOptions(num_threads=READ_THREADS, prefetch_buffer_size=2 * READ_THREADS)
  return iter(dataset.to_iter_dataset(options))


def shuffle_seed(seed: int) -> int:
  """grain's 32-bit shuffle seed: epoch e uses shuffle_seed + e, so spread the config seeds
  apart rather than let seed s + 1 replay seed s's epochs shifted by one."""
  return int(np.random.SeedSequence(seed).generate_state(1)[0])


def process_rows(process_index: int, process_count: int, local_batch_size: int) -> np.ndarray:
  """Which rows of every global batch (its positions in the order) `train_batches` gives
  process `process_index`: p, p + P, p + 2 P, ..."""
  return process_index + process_count * np.arange(local_batch_size)


def train_batches(prepared: records.PreparedSplit, *, seed: int, start_batch: int,
                  local_batch_size: int, process_index: int, process_count: int
                  ) -> Iterator[Batch]:
  """Endless batches of `local_batch_size`, this process's part of every global batch from
  `start_batch` on (the order: the module docstring)."""
  batch_size = local_batch_size * process_count
  positions = grain.MapDataset.source(grain.sources.ArrayRecordDataSource(prepared.paths))
  positions = positions.shuffle(seed=shuffle_seed(seed)).repeat()
  mine = positions[start_batch * batch_size + process_index::process_count]
  return _read(mine.map(_example).batch(local_batch_size, drop_remainder=True))


def eval_batches(prepared: records.PreparedSplit, *, global_batch_size: int,
                 max_examples: int, process_index: int, process_count: int
                 ) -> Iterator[Batch]:
  """This process's rows of every global batch of the split (of its first `max_examples`
  if > 0), in order: global batch k is records [k B, (k + 1) B) and process p holds its
  rows [p B / P, (p + 1) B / P), whatever the process count. {'image', 'label', 'mask'}
  batches; every process yields as many, the padding (zero image, label 0) masked out."""
  count = min(prepared.count, max_examples) if max_examples > 0 else prepared.count
  local = global_batch_size // process_count
  firsts = range(process_index * local, count, global_batch_size) if count else range(0)
  num_batches = math.ceil(count / global_batch_size)
  sizes = [min(local, max(0, count - (k * global_batch_size + process_index * local)))
           for k in range(num_batches)]
  indices = np.concatenate([np.arange(first, first + size, dtype=np.int64)
                            for first, size in zip(firsts, sizes)] or [np.zeros(0, np.int64)])
  size = prepared.image_size
  padding = {'image': np.zeros((local, size, size, 3), np.uint8),
             'label': np.zeros(local, np.int32), 'mask': np.zeros(local, bool)}
  source = grain.sources.ArrayRecordDataSource(prepared.paths)
  examples = (_read(grain.MapDataset.source(indices).map(lambda i: source[int(i)])
                    .map(_example)) if len(indices) else iter(()))
  for rows in sizes:
    batch = [next(examples) for _ in range(rows)]
    if not batch:
      yield padding
      continue
    yield {'image': np.concatenate([np.stack([b['image'] for b in batch]),
                                    padding['image'][rows:]]),
           'label': np.concatenate([np.stack([b['label'] for b in batch]),
                                    padding['label'][rows:]]),
           'mask': np.arange(local) < rows}
