r"""Prepares a dataset once: the PyTorch GAN loaders' images as ArrayRecord shards.

  python -m an_flax.data.prepare --config configs/imagenet128_an.py \
      [--config.dataset.resizer=lanczos] [--split=train,validation] [--num_workers N] \
      [--skip_unreadable] [--process_id I --num_processes N | --distributed]

Reads `config.dataset`: the ILSVRC2012 tars in `manual_dir` (imagenet2012) or the image
folder `data_dir` (image_folder), and writes every image of each split as
`pil_preprocess.pil_square_image(bytes, image_size, resizer)` with its label and file name
into `<config.dataset.prepared>/<split>/` (the layout and record format: `records`). Default
splits: the ones the config reads (`dataset.split`, `eval.reference_split`).

- Every core: one worker process per core (`--num_workers`) writes one shard at a time; a
  progress bar counts the shards, with the images/s and the time left.
- Resuming: a shard is written under a temporary name and renamed when complete, then its
  `.json` is written; a run started again keeps the shards that have one and redoes the
  others.
- Several hosts: shard i belongs to host i % num_processes (`--process_id` /
  `--num_processes`, or JAX's process index with `--distributed` /
  `--coordinator_address`), all writing into one shared directory. Each host, when done,
  writes `manifest.json` if every shard's `.json` is there; whoever finishes last thus
  completes it, and running the command again once all are done completes it too.
- Checks: every shard file, read back, holds as many records as its source files less the
  unreadable ones; a directory prepared with another size, resizer, split, source, decoder
  or shard count is refused, naming what differs. A file PIL cannot read is an error
  naming it (`--skip_unreadable` leaves it out and lists it in the manifest).

Imports neither TensorFlow nor, without --distributed, JAX: the workers (spawned, so they
re-import this module) start in a fraction of a second.
"""

from __future__ import annotations

import concurrent.futures
import functools
import glob
import hashlib
import importlib.metadata
import multiprocessing
import os
import socket
import time
from collections.abc import Callable, Sequence
from typing import Any

import ml_collections
import numpy as np
import PIL
import tqdm
from absl import app, flags, logging
from array_record.python import array_record_module
from ml_collections import config_flags
from PIL import Image
from PIL import features as pil_features

from an_flax.data import image_sources, pil_preprocess, records

# What a complete ILSVRC2012 tar holds; other counts are reported.
IMAGENET_COUNTS = {'train': 1_281_167, 'validation': 50_000}
# What PIL raises for bytes it cannot decode (UnidentifiedImageError and truncated files are
# OSErrors; a few malformed headers raise ValueError or SyntaxError).
PIL_READ_ERRORS = (OSError, ValueError, SyntaxError, Image.DecompressionBombError)


class UnreadableImageError(OSError):
  """A source file PIL cannot decode."""


def split_directory(dataset: ml_collections.ConfigDict, split: str) -> str:
  """Where `split` of `config.dataset` is (to be) prepared."""
  return os.path.join(records.prepared_root(dataset), split)


def plan(dataset: ml_collections.ConfigDict, split: str,
         images_per_shard: int = image_sources.IMAGES_PER_SHARD) -> image_sources.Plan:
  if dataset.name == 'imagenet2012':
    manual_dir = dataset.manual_dir or os.path.join(
        records.tfds_data_dir(dataset.data_dir), 'downloads', 'manual')
    return image_sources.imagenet_plan(manual_dir, split, images_per_shard)
  if dataset.name == 'image_folder':
    if not dataset.data_dir:
      raise ValueError("dataset.name='image_folder' needs config.dataset.data_dir, the folder "
                       'laid out as <data_dir>/<split>/<class>/<image>.')
    return image_sources.folder_plan(dataset.data_dir, split, images_per_shard)
  raise ValueError(f'config.dataset.name={dataset.name!r} cannot be prepared: only '
                   "'imagenet2012' (the ILSVRC2012 tars) and 'image_folder' can.")


def settings(dataset: ml_collections.ConfigDict, split: str,
             split_plan: image_sources.Plan) -> dict[str, Any]:
  """What a prepared directory holds: two runs may write into one only if these agree."""
  return {
      'record_format': records.RECORD_FORMAT,
      'source_kind': split_plan.source['kind'],
      'split': split,
      'image_size': dataset.image_size,
      'resizer': dataset.resizer,
      'crop': pil_preprocess.CROP_RULE,
      'decoder': {'pillow': PIL.__version__, 'libjpeg': pil_features.version('jpg'),
                  'zlib': pil_features.version('zlib')},
      'num_shards': len(split_plan.shards),
      'num_classes': split_plan.num_classes,
  }


def library_versions() -> dict[str, str]:
  return {'pillow': PIL.__version__, 'numpy': np.__version__,
          'array_record': importlib.metadata.version('array_record')}


def claim(directory: str, wanted: dict[str, Any]) -> None:
  """Makes `directory` hold `wanted`'s split, or refuses one prepared otherwise."""
  os.makedirs(directory, exist_ok=True)
  path = os.path.join(directory, records.SETTINGS)
  if not os.path.isfile(path):
    records.write_json_atomically(path, wanted)
    return
  found = records.read_json(path)
  differ = [key for key in wanted if found.get(key) != wanted[key]]
  if differ:
    details = '; '.join(f'{key} {found.get(key)!r} there, {wanted[key]!r} asked for'
                        for key in differ)
    raise ValueError(f'{directory} was prepared with other settings ({details}). Prepare into '
                     'another directory (config.dataset.prepared; the ImageNet configs\' '
                     'default already names the size and resizer), or delete this one.')


def _sha256(path: str) -> str:
  digest = hashlib.sha256()
  with open(path, 'rb') as f:
    for block in iter(lambda: f.read(1 << 22), b''):
      digest.update(block)
  return digest.hexdigest()


def write_shard(shard: image_sources.Shard, *, directory: str, num_shards: int,
                image_size: int, resizer: str, skip_unreadable: bool) -> dict[str, Any]:
  """Writes one shard (in a worker process); returns what its `.json` records."""
  stem = records.shard_stem(shard.index, num_shards)
  final = os.path.join(directory, f'{stem}.array_record')
  for stale in glob.glob(f'{final}.tmp-*'):  # A killed run's partial shard: only we write it.
    os.remove(stale)
  temporary = f'{final}.tmp-{socket.gethostname()}-{os.getpid()}'
  writer = array_record_module.ArrayRecordWriter(temporary, records.WRITER_OPTIONS)
  count, skipped = 0, []
  try:
    for example in shard.read():
      try:
        image = pil_preprocess.pil_square_image(example.encoded, image_size, resizer)
      except PIL_READ_ERRORS as error:
        reason = ('no image format PIL knows' if isinstance(error, Image.UnidentifiedImageError)
                  else str(error))
        if not skip_unreadable:
          raise UnreadableImageError(
              f'{shard.where}/{example.name}: PIL cannot read it ({reason}). Run again with '
              '--skip_unreadable to leave such files out (the manifest lists them).') from None
        skipped.append({'file': example.name, 'error': reason})
        continue
      writer.write(records.encode_record(image, example.label, example.name))
      count += 1
  except BaseException:
    writer.close()
    os.remove(temporary)
    raise
  writer.close()
  reader = array_record_module.ArrayRecordReader(temporary)
  written = reader.num_records()
  reader.close()
  if written != count:
    raise OSError(f'{temporary} holds {written} records after {count} were written.')
  sidecar = {'file': os.path.basename(final), 'source': shard.where, 'count': count,
             'bytes': os.path.getsize(temporary), 'sha256': _sha256(temporary),
             'skipped': skipped}
  os.replace(temporary, final)
  records.write_json_atomically(os.path.join(directory, f'{stem}.json'), sidecar)
  return sidecar


def _run(write: Callable[[image_sources.Shard], dict[str, Any]],
         shards: Sequence[image_sources.Shard], num_workers: int,
         done: Callable[[dict[str, Any]], None]) -> None:
  """`write`s every shard, `num_workers` processes at a time (in this one when 1)."""
  if num_workers == 1:
    for shard in shards:
      done(write(shard))
    return
  # Spawned, not forked: the parent may run JAX's or TensorFlow's threads.
  context = multiprocessing.get_context('spawn')
  with concurrent.futures.ProcessPoolExecutor(num_workers, mp_context=context) as pool:
    futures = [pool.submit(write, shard) for shard in shards]
    try:
      for future in concurrent.futures.as_completed(futures):
        done(future.result())
    except BaseException:
      pool.shutdown(cancel_futures=True)
      raise


def finish(directory: str, wanted: dict[str, Any],
           split_plan: image_sources.Plan) -> dict[str, Any] | None:
  """Writes and returns the manifest once every shard is there; None before."""
  sidecars = []
  for shard in split_plan.shards:
    path = os.path.join(directory, f'{records.shard_stem(shard.index, len(split_plan.shards))}'
                        '.json')
    if not os.path.isfile(path):
      return None
    sidecars.append(records.read_json(path))
  for sidecar in sidecars:
    path = os.path.join(directory, sidecar['file'])
    if not os.path.isfile(path) or os.path.getsize(path) != sidecar['bytes']:
      raise OSError(f'{path} is missing or not the {sidecar["bytes"]} bytes its .json '
                    'records: delete its .json and run the command again to rewrite it.')
  count = sum(sidecar['count'] for sidecar in sidecars)
  skipped = [f'{sidecar["source"]}/{entry["file"]}: {entry["error"]}'
             for sidecar in sidecars for entry in sidecar['skipped']]
  expected = IMAGENET_COUNTS.get(wanted['split'])
  if wanted['source_kind'] == 'ILSVRC2012 tar' and count + len(skipped) != expected:
    logging.warning('%s holds %d images; a complete ILSVRC2012 %s tar has %d.',
                    split_plan.source['path'], count + len(skipped), wanted['split'], expected)
  manifest = {**wanted, 'source': split_plan.source, 'count': count,
              'versions': library_versions(), 'skipped': skipped,
              'shards': [{k: v for k, v in sidecar.items() if k != 'skipped'}
                         for sidecar in sidecars]}
  records.write_json_atomically(os.path.join(directory, records.MANIFEST), manifest)
  return manifest


def prepare_split(dataset: ml_collections.ConfigDict, split: str, *, num_workers: int,
                  skip_unreadable: bool = False, process_index: int = 0,
                  process_count: int = 1,
                  images_per_shard: int = image_sources.IMAGES_PER_SHARD
                  ) -> dict[str, Any] | None:
  """Writes this host's shards of `split`; returns the manifest if the split is complete."""
  pil_preprocess.check_resizer(dataset.resizer)
  if not 0 <= process_index < process_count:
    raise ValueError(f'--process_id={process_index} is not in [0, --num_processes='
                     f'{process_count}).')
  directory = split_directory(dataset, split)
  split_plan = plan(dataset, split, images_per_shard)
  wanted = settings(dataset, split, split_plan)
  claim(directory, wanted)
  num_shards = len(split_plan.shards)
  mine = [s for s in split_plan.shards if s.index % process_count == process_index]
  pending = [s for s in mine if not os.path.isfile(
      os.path.join(directory, f'{records.shard_stem(s.index, num_shards)}.json'))]
  logging.info('%s: %d shards, %d of them this host\'s, %d to write, into %s.', split,
               num_shards, len(mine), len(pending), directory)
  write = functools.partial(write_shard, directory=directory, num_shards=num_shards,
                            image_size=dataset.image_size, resizer=dataset.resizer,
                            skip_unreadable=skip_unreadable)
  start, images = time.monotonic(), 0
  with tqdm.tqdm(total=len(mine), initial=len(mine) - len(pending), unit='shard',
                 desc=f'Preparing {split}') as progress:
    def done(sidecar: dict[str, Any]) -> None:
      nonlocal images
      images += sidecar['count']
      progress.set_postfix(images=images, images_per_s=f'{images / (time.monotonic() - start):.0f}')
      progress.update()
    _run(write, pending, min(num_workers, max(len(pending), 1)), done)
  return finish(directory, wanted, split_plan)


def default_splits(config: ml_collections.ConfigDict) -> list[str]:
  """The splits the config reads: the training split and the reference statistics'."""
  names = [part.split('[')[0].strip() for part in config.dataset.split.split('+')]
  if 'eval' in config and 'reference_split' in config.eval:
    names.append(config.eval.reference_split)
  return list(dict.fromkeys(names))


def _define_flags() -> None:
  config_flags.DEFINE_config_file(
      'config', None, 'The run\'s config: its dataset fields say what to prepare and where.',
      lock_config=True)
  flags.DEFINE_list('split', None, 'Splits to prepare (default: the ones the config reads).')
  flags.DEFINE_integer('num_workers', len(os.sched_getaffinity(0)),
                       'Worker processes (default: one per core).')
  flags.DEFINE_bool('skip_unreadable', False,
                    'Leave out the files PIL cannot read, listing them in the manifest, '
                    'instead of stopping at the first.')
  flags.mark_flags_as_required(['config'])


def _process_index_and_count() -> tuple[int, int]:
  """--process_id / --num_processes, or JAX's once the job is joined (--distributed)."""
  args = flags.FLAGS
  if args.distributed or args.coordinator_address:
    from an_flax.runtime import launch  # pylint: disable=g-import-not-at-top
    import jax  # pylint: disable=g-import-not-at-top
    launch.start()
    return jax.process_index(), jax.process_count()
  return args.process_id or 0, args.num_processes or 1


def main(argv: list[str]) -> None:
  if len(argv) > 1:
    raise app.UsageError(f'Unexpected arguments: {argv[1:]}')
  args = flags.FLAGS
  config = args.config
  if not config.dataset.get('prepared'):
    raise ValueError('config.dataset.prepared is empty: set it to the directory to write, '
                     'e.g. --config.dataset.prepared=/data/imagenet_128_bilinear.')
  process_index, process_count = _process_index_and_count()
  if args.num_workers < 1:
    raise ValueError(f'--num_workers={args.num_workers}: give at least 1.')
  for split in args.split or default_splits(config):
    manifest = prepare_split(config.dataset, split, num_workers=args.num_workers,
                             skip_unreadable=args.skip_unreadable,
                             process_index=process_index, process_count=process_count)
    directory = split_directory(config.dataset, split)
    if manifest is None:
      print(f'{directory}: this host\'s shards are written; the manifest follows when the '
            'last host finishes (or run this command again once all have).')
    else:
      print(f'{directory}: {manifest["count"]} images in {manifest["num_shards"]} shards'
            + (f', {len(manifest["skipped"])} unreadable files skipped (see manifest.json)'
               if manifest['skipped'] else '') + '.')


if __name__ == '__main__':
  # Imported here: the worker processes re-import this module and need no JAX.
  from an_flax.runtime import launch  # pylint: disable=g-import-not-at-top
  _define_flags()
  launch.run(main)
