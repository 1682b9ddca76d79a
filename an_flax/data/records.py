"""Prepared splits on disk: where they live, their record format and their manifest.

`python -m an_flax.data.prepare` writes each split to `<config.dataset.prepared>/<split>/`:

  shard-00000-of-01000.array_record   ArrayRecord, one record per image, one record per chunk
  shard-00000-of-01000.json           that shard's count, sha256, bytes and skipped files
  settings.json                       what the directory holds (source kind, split, size,
                                      resizer, crop rule, record format, library versions)
  manifest.json                       settings + source + every shard, once all are written

A record is a fixed 8-byte header, the pixels and the source file name (`RECORD_FORMAT`):
numpy reads it without TensorFlow, and the image is a view of the record's bytes. Records
are uncompressed: a 128x128 image is 49,152 bytes of pixels and about 49,350 on disk, so
ImageNet's train split (1,281,167 images) takes 63.2 GB, its validation split 2.47 GB.
This module imports neither TensorFlow nor JAX: the FID command line and the preparing
processes use it.
"""

from __future__ import annotations

import dataclasses
import json
import os
import struct
from collections.abc import Iterator
from typing import Any

import numpy as np
from array_record.python import array_record_module

RECORD_FORMAT = ('an_flax.prepared.v1: little-endian header <uint16 side, int32 label, '
                 'uint16 name bytes>, then side*side*3 uint8 RGB pixels (rows, columns, '
                 'channels), then the UTF-8 source file name')
_HEADER = struct.Struct('<HiH')
# group_size:1 puts every record in a chunk of its own: a random read reads one image.
WRITER_OPTIONS = 'group_size:1,uncompressed'
SETTINGS = 'settings.json'
MANIFEST = 'manifest.json'
PREPARED_TEMPLATE_FIELDS = ('data_dir', 'name', 'image_size', 'resizer')


def encode_record(image: np.ndarray, label: int, name: str) -> bytes:
  """The record of a uint8 (side, side, 3) image (see `RECORD_FORMAT`)."""
  side = image.shape[0]
  if image.dtype != np.uint8 or image.shape != (side, side, 3):
    raise ValueError(f'Expected a uint8 (side, side, 3) image, got {image.dtype} {image.shape}.')
  encoded_name = name.encode('utf-8')
  return (_HEADER.pack(side, label, len(encoded_name)) + np.ascontiguousarray(image).tobytes()
          + encoded_name)


def decode_record(record: bytes) -> tuple[np.ndarray, int, str]:
  """(image, label, name) of a record; the image is a read-only view of its bytes."""
  side, label, name_bytes = _HEADER.unpack_from(record)
  pixels = side * side * 3
  image = np.frombuffer(record, np.uint8, pixels, _HEADER.size).reshape(side, side, 3)
  name = record[_HEADER.size + pixels:_HEADER.size + pixels + name_bytes].decode('utf-8')
  return image, label, name


def shard_stem(index: int, count: int) -> str:
  return f'shard-{index:05d}-of-{count:05d}'


def tfds_data_dir(data_dir: str | None) -> str:
  """`config.dataset.data_dir`, or TFDS's default (`$TFDS_DATA_DIR`, ~/tensorflow_datasets)."""
  return data_dir or os.environ.get(
      'TFDS_DATA_DIR', os.path.join(os.path.expanduser('~'), 'tensorflow_datasets'))


def prepared_root(dataset: Any) -> str:
  """`config.dataset.prepared` with its `{data_dir}`, `{name}`, `{image_size}` and
  `{resizer}` filled in from `config.dataset`: the ImageNet configs' default directory
  follows the size and resizer, so two preparations never share one."""
  try:
    return dataset.prepared.format(
        data_dir=tfds_data_dir(dataset.data_dir), name=dataset.name,
        image_size=dataset.image_size, resizer=dataset.resizer)
  except (KeyError, IndexError) as error:
    raise ValueError(f'config.dataset.prepared={dataset.prepared!r} names {error}: only '
                     f'{", ".join("{" + f + "}" for f in PREPARED_TEMPLATE_FIELDS)} can be '
                     'filled in.') from None


def read_json(path: str) -> dict[str, Any]:
  with open(path) as f:
    return json.load(f)


def write_json_atomically(path: str, record: dict[str, Any]) -> None:
  """Writes `path` whole or not at all: a killed writer leaves no half-written file."""
  temporary = f'{path}.tmp-{os.getpid()}'
  with open(temporary, 'w') as f:
    json.dump(record, f, indent=2)
  os.replace(temporary, path)


@dataclasses.dataclass(frozen=True)
class PreparedSplit:
  """A completely prepared split: its directory and manifest."""

  directory: str
  manifest: dict[str, Any]

  @property
  def count(self) -> int:
    return self.manifest['count']

  @property
  def image_size(self) -> int:
    return self.manifest['image_size']

  @property
  def num_classes(self) -> int:
    return self.manifest['num_classes']

  @property
  def paths(self) -> list[str]:
    """The shard files in order: record i of the split is record i of their concatenation."""
    return [os.path.join(self.directory, shard['file']) for shard in self.manifest['shards']]


def is_prepared(directory: str) -> bool:
  return os.path.isfile(os.path.join(directory, MANIFEST))


def open_split(directory: str, prepare_hint: str) -> PreparedSplit:
  """The prepared split in `directory`; FileNotFoundError ending in `prepare_hint` when it
  is not (completely) prepared."""
  if not is_prepared(directory):
    state = ('is partly prepared (no manifest.json yet)' if os.path.isfile(
        os.path.join(directory, SETTINGS)) else 'holds no prepared split')
    raise FileNotFoundError(f'{directory} {state}. {prepare_hint}'.rstrip())
  return PreparedSplit(directory, read_json(os.path.join(directory, MANIFEST)))


def iterate(split: PreparedSplit) -> Iterator[tuple[np.ndarray, int, str]]:
  """(image, label, name) of every record in order, read sequentially."""
  for path in split.paths:
    reader = array_record_module.ArrayRecordReader(path)  # read-ahead: sequential
    try:
      for start in range(0, reader.num_records(), 256):
        for record in reader.read(start, min(start + 256, reader.num_records())):
          yield decode_record(record)
    finally:
      reader.close()
