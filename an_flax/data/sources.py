"""Where examples come from: one TFDS builder per `config.dataset.name`, read per process.

Nothing here downloads. The embedded `symmetric_shapes` and `procedural_facades` sets are
generated on first use;
`imagenet2012` is prepared from the manual ILSVRC tars by TFDS's own builder; `cifar10`
must already be prepared; an image folder is read in place by `tfds.folder_dataset.ImageFolder`.
"""

from __future__ import annotations

import dataclasses
import os

import jax
import ml_collections
import tensorflow as tf
import tensorflow_datasets as tfds
from jax.experimental import multihost_utils

from an_flax.data import procedural_facades, symmetric_shapes
from an_flax.data.image_sources import IMAGENET_TARS

SOURCES = ('symmetric_shapes', procedural_facades.NAME, 'imagenet2012', 'cifar10',
           'image_folder')


@dataclasses.dataclass(frozen=True)
class DataConfig:
  """The fields of `config.dataset` that this package reads.

  Attributes:
    name: one of `SOURCES`.
    image_size: side of the square output images, in pixels.
    data_dir: TFDS data directory (None: TFDS's default, ~/tensorflow_datasets). For
      'image_folder' it is the folder itself, laid out as `<data_dir>/<split>/<class>/*`
      (.jpg, .jpeg or .png), the layout `tfds.folder_dataset.ImageFolder` reads.
    manual_dir: directory holding the ILSVRC2012 tars (None: `<data_dir>/downloads/manual`).
    split: the training split; TFDS slicing such as 'train[:90%]' works except for folders.
    cache: keep decoded, resized images in memory after their first read.
    shuffle_buffer: examples in each process's shuffle buffer. Its memory: the default
      holds about 5.5 GB of ImageNet JPEGs, or 2.5 GB of cached 128x128 images.
    resizer: PIL filter of the prepared images (`pil_preprocess.RESIZERS`).
    prepared: directory of the splits `an_flax.data.prepare` writes, with `{data_dir}`,
      `{name}`, `{image_size}`, `{resizer}` filled in (`records.prepared_root`); when set,
      training and evaluation read it (`an_flax.data.prepared`) and `split`, `cache` and
      `shuffle_buffer` are not used. "": read the source through TFDS.
    random_flip: flip training images left-right at random (`an_flax.data.flip`).
  """

  name: str
  image_size: int
  data_dir: str | None = None
  manual_dir: str | None = None
  split: str = 'train'
  cache: bool = False
  shuffle_buffer: int = 50_000
  resizer: str = 'bilinear'
  prepared: str = ''
  random_flip: bool = False

  @classmethod
  def from_config(cls, config: ml_collections.ConfigDict) -> DataConfig:
    fields = [f.name for f in dataclasses.fields(cls)]
    return cls(**{k: config.dataset[k] for k in fields if k in config.dataset})


def deterministic_options() -> tf.data.Options:
  options = tf.data.Options()
  options.deterministic = True
  return options


def get_builder(data: DataConfig) -> tfds.core.DatasetBuilder:
  """Constructs the builder: metadata only, nothing is read or prepared."""
  if data.name == 'symmetric_shapes':  # Other sizes are resized from 64x64.
    size = data.image_size if data.image_size in (32, 64) else 64
    return symmetric_shapes.SymmetricShapes(config=f'{size}x{size}', data_dir=data.data_dir)
  if data.name == procedural_facades.NAME:  # The nearest generated size, resized.
    size = min((s for s in procedural_facades.SIZES if s >= data.image_size),
               default=max(procedural_facades.SIZES))
    return procedural_facades.ProceduralFacades(config=f'{size}x{size}', data_dir=data.data_dir)
  if data.name == 'image_folder':
    if not data.data_dir or not tf.io.gfile.isdir(data.data_dir):
      raise FileNotFoundError(
          f"dataset.name='image_folder' needs dataset.data_dir (now {data.data_dir!r}) "
          'to be a directory laid out as <data_dir>/<split>/<class>/<image>.')
    return tfds.folder_dataset.ImageFolder(data.data_dir)
  if data.name in SOURCES:
    return tfds.builder(data.name, data_dir=data.data_dir)
  raise ValueError(f'Unknown dataset.name {data.name!r}; expected one of {SOURCES}.')


def _split_names(split: str) -> list[str]:
  """'train[:10%]+validation' -> ['train', 'validation']."""
  return [part.split('[')[0].strip() for part in split.split('+')]


def imagenet_manual_dir(builder: tfds.core.DatasetBuilder, data: DataConfig) -> str:
  return data.manual_dir or os.fspath(builder.data_dir_root / 'downloads' / 'manual')


def _check_imagenet_tars(builder: tfds.core.DatasetBuilder, data: DataConfig,
                         split: str) -> None:
  """Fails before TFDS starts when a tar that preparing `split` needs is missing.

  TFDS's builder reads the validation tar whatever split is asked for.
  """
  manual_dir = imagenet_manual_dir(builder, data)
  needed = [name for name in IMAGENET_TARS
            if name == 'validation' or name in _split_names(split)]
  missing = [os.path.join(manual_dir, IMAGENET_TARS[name]) for name in needed]
  missing = [path for path in missing if not tf.io.gfile.exists(path)]
  if missing:
    raise FileNotFoundError(
        f'imagenet2012 is not prepared under {builder.data_dir}, and preparing its '
        f'{split!r} split needs {" and ".join(missing)}: not found. Download '
        f'{" and ".join(os.path.basename(p) for p in missing)} from '
        f'https://image-net.org/download-images into {manual_dir}, or set '
        'config.dataset.manual_dir to the directory that holds them.')


def check_available(builder: tfds.core.DatasetBuilder, data: DataConfig, split: str) -> None:
  """Fails at once, saying what to do, unless `split` is readable or can be generated here.

  Reads metadata only: cheap enough to run before any model is built.
  """
  folder = isinstance(builder, tfds.folder_dataset.ImageFolder)  # Read in place.
  if not folder and not builder.is_prepared():
    if builder.name == 'cifar10':
      raise FileNotFoundError(
          f'cifar10 is not prepared under {builder.data_dir} and this pipeline never '
          'downloads. Where there is internet, run `tfds build cifar10 '
          f'--data_dir=DIR` and copy DIR/cifar10 to {builder.data_dir_root}.')
    if builder.name == 'imagenet2012':
      _check_imagenet_tars(builder, data, split)
    return  # generated on first use
  for name in _split_names(split):
    if name not in builder.info.splits:
      hint = ''
      if builder.name == 'imagenet2012' and name in IMAGENET_TARS:
        hint = (f' It was prepared while {IMAGENET_TARS[name]} was not in '
                f'{imagenet_manual_dir(builder, data)}: put it there and delete '
                f'{builder.data_dir} to prepare again.')
      elif folder:
        hint = (f' An image folder is read as <data_dir>/<split>/<class>/<image>: put the '
                f'images of split {name!r} in {os.path.join(data.data_dir, name)}/<class>/.')
      raise ValueError(f'{builder.name} has no split {name!r} (it has '
                       f'{sorted(builder.info.splits)}).{hint}')


def prepare(data: DataConfig, split: str) -> tfds.core.DatasetBuilder:
  """The builder of `data` with `split` readable, generating the data when that needs no
  download.

  In a multi-process job only process 0 generates the data (the others wait at a barrier
  and then read it), so N hosts sharing a data_dir do not race to build it. Processes
  with a data_dir of their own must then prepare it beforehand.
  """
  builder = get_builder(data)
  check_available(builder, data, split)
  folder = isinstance(builder, tfds.folder_dataset.ImageFolder)
  if folder or builder.is_prepared():
    return builder
  if jax.process_index() == 0:
    builder.download_and_prepare(download_config=tfds.download.DownloadConfig(
        manual_dir=data.manual_dir, try_download_gcs=False))
  if jax.process_count() > 1:
    multihost_utils.sync_global_devices(f'prepared {builder.name}')
    builder = get_builder(data)  # re-read the metadata process 0 wrote
  check_available(builder, data, split)
  return builder


def num_examples(builder: tfds.core.DatasetBuilder, split: str) -> int:
  return builder.info.splits[split].num_examples


def read_process_slice(builder: tfds.core.DatasetBuilder, split: str, process_index: int,
                       process_count: int) -> tuple[tf.data.Dataset, int]:
  """This process's disjoint slice of `split`, in an order fixed by the data on disk.

  Returns the records {'image': encoded bytes, 'label': int64} and how many there are.
  Slices cover the split; their sizes differ by at most one.
  """
  decoders = {'image': tfds.decode.SkipDecoding()}
  read_config = tfds.ReadConfig(
      options=deterministic_options(), try_autocache=False, skip_prefetch=True)
  if isinstance(builder, tfds.folder_dataset.ImageFolder):
    # ImageFolder has no sub-split API: every process lists (and reads the bytes of)
    # all files and keeps every `process_count`-th one.
    ds = builder.as_dataset(split=split, decoders=decoders, read_config=read_config)
    ds = ds.shard(process_count, process_index)
    count = len(range(process_index, num_examples(builder, split), process_count))
  else:
    split = tfds.split_for_jax_process(
        split, process_index=process_index, process_count=process_count)
    ds = builder.as_dataset(split=split, decoders=decoders, read_config=read_config)
    count = num_examples(builder, split)
  return ds.map(lambda ex: {'image': ex['image'], 'label': ex['label']}), count
