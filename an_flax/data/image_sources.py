"""The encoded images `an_flax.data.prepare` reads, cut into shards that one process writes.

Sources, read in place (nothing is unpacked):
  imagenet2012  ILSVRC2012_img_train.tar, a tar of one `<synset>.tar` of JPEGs per class:
                one shard per synset, label = the synset's index in TFDS's `labels.txt`
                (sorted synsets, so torchvision's ImageFolder labels too).
                ILSVRC2012_img_val.tar, flat: shards of consecutive files in name order,
                labels from TFDS's `validation_labels.txt` zipped with the sorted names, as
                TFDS's builder assigns them.
  image_folder  `<data_dir>/<split>/<class>/**/<image>` as torchvision's ImageFolder reads it
                (StudioGAN's loader): classes are the split's sorted folders, files are
                walked in sorted order, with torchvision's extensions in any case.
The bytes are the files' own: TFDS's builder re-encodes ImageNet's 22 CMYK JPEGs and its one
PNG as RGB JPEGs, the PyTorch loaders (and these shards) decode the originals.
"""

from __future__ import annotations

import dataclasses
import io
import os
import tarfile
from collections.abc import Iterator, Sequence
from typing import NamedTuple, Protocol

IMAGENET_TARS = {
    'train': 'ILSVRC2012_img_train.tar',
    'validation': 'ILSVRC2012_img_val.tar',
}
# torchvision.datasets.folder.IMG_EXTENSIONS, matched in any case as ImageFolder does.
IMAGE_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.ppm', '.bmp', '.pgm', '.tif', '.tiff', '.webp')
IMAGES_PER_SHARD = 1024  # of the flat sources: ~50 MB of 128x128 records


class Example(NamedTuple):
  name: str  # the file's name in its tar, or its path under the split folder
  encoded: bytes
  label: int


class Shard(Protocol):
  index: int

  @property
  def where(self) -> str:
    """The tar or folder the shard's files are in, for messages."""

  def read(self) -> Iterator[Example]:
    """The shard's examples in a fixed order."""


def _tfds_package_file(name: str) -> list[str]:
  """A label list that tensorflow-datasets ships (imported here: the package, not TensorFlow)."""
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  return tfds.core.tfds_path(f'datasets/imagenet2012/{name}').read_text().split()


def imagenet_synsets() -> list[str]:
  """The 1000 synsets in label order."""
  return _tfds_package_file('labels.txt')


def imagenet_validation_synsets() -> list[str]:
  """The synset of each validation image, in the order of their sorted file names."""
  return _tfds_package_file('validation_labels.txt')


@dataclasses.dataclass(frozen=True)
class SynsetTarShard:
  """One `<synset>.tar` inside the train tar, at byte `offset`."""

  index: int
  tar_path: str
  member: str
  offset: int
  size: int
  label: int

  @property
  def where(self) -> str:
    return f'{self.tar_path}/{self.member}'

  def read(self) -> Iterator[Example]:
    # The inner tar is read whole (~140 MB), one sequential read, as TFDS's builder does.
    with open(self.tar_path, 'rb') as f:
      f.seek(self.offset)
      inner = io.BytesIO(f.read(self.size))
    with tarfile.open(fileobj=inner) as tar:
      for member in tar:
        if member.isfile():
          yield Example(member.name, tar.extractfile(member).read(), self.label)


@dataclasses.dataclass(frozen=True)
class TarMembersShard:
  """Consecutive files of a flat tar: (name, byte offset, size, label) each."""

  index: int
  tar_path: str
  members: tuple[tuple[str, int, int, int], ...]

  @property
  def where(self) -> str:
    return self.tar_path

  def read(self) -> Iterator[Example]:
    with open(self.tar_path, 'rb') as f:
      for name, offset, size, label in self.members:
        f.seek(offset)
        yield Example(name, f.read(size), label)


@dataclasses.dataclass(frozen=True)
class FilesShard:
  """Image files under `root`: (path relative to root, label) each."""

  index: int
  root: str
  files: tuple[tuple[str, int], ...]

  @property
  def where(self) -> str:
    return self.root

  def read(self) -> Iterator[Example]:
    for name, label in self.files:
      with open(os.path.join(self.root, name), 'rb') as f:
        yield Example(name, f.read(), label)


@dataclasses.dataclass(frozen=True)
class Plan:
  """A split cut into shards."""

  source: dict[str, str | int]  # kind, path (and a tar's bytes): recorded in the manifest
  shards: list[Shard]
  num_classes: int


def _chunks(items: Sequence, size: int) -> list[tuple]:
  return [tuple(items[i:i + size]) for i in range(0, len(items), size)]


def _check_tar(path: str, split: str) -> None:
  if not os.path.isfile(path):
    raise FileNotFoundError(
        f'Preparing imagenet2012 {split!r} reads {path}: not found. Download '
        f'{os.path.basename(path)} from https://image-net.org/download-images into '
        f'{os.path.dirname(path)}, or set config.dataset.manual_dir to the directory that '
        'holds it.')


def _source(kind: str, path: str) -> dict[str, str | int]:
  source = {'kind': kind, 'path': os.path.abspath(path)}
  return {**source, 'bytes': os.path.getsize(path)} if os.path.isfile(path) else source


def imagenet_plan(manual_dir: str, split: str, images_per_shard: int) -> Plan:
  """The train tar as one shard per synset, or the validation tar in shards of files."""
  if split not in IMAGENET_TARS:
    raise ValueError(f'imagenet2012 split {split!r} cannot be prepared: the tars hold '
                     f'labelled {" and ".join(map(repr, IMAGENET_TARS))} splits.')
  path = os.path.join(manual_dir, IMAGENET_TARS[split])
  _check_tar(path, split)
  synsets = imagenet_synsets()
  with tarfile.open(path) as tar:  # Headers only: each member's data is skipped by a seek.
    members = sorted(((m.name, m.offset_data, m.size) for m in tar if m.isfile()))
  label_of = {synset: label for label, synset in enumerate(synsets)}
  if split == 'train':
    unknown = [name for name, _, _ in members if name.removesuffix('.tar') not in label_of]
    if unknown:
      raise ValueError(f'{path} holds {unknown[:3]}, not <synset>.tar files of the 1000 '
                       'ILSVRC2012 synsets: is it ILSVRC2012_img_train.tar?')
    shards = [SynsetTarShard(i, path, name, offset, size, label_of[name.removesuffix('.tar')])
              for i, (name, offset, size) in enumerate(members)]
  else:
    labels = [label_of[synset] for synset in imagenet_validation_synsets()]
    labelled = [(name, offset, size, label)
                for (name, offset, size), label in zip(members, labels)]
    shards = [TarMembersShard(i, path, chunk)
              for i, chunk in enumerate(_chunks(labelled, images_per_shard))]
  return Plan(_source('ILSVRC2012 tar', path), shards, len(synsets))


def folder_plan(data_dir: str, split: str, images_per_shard: int) -> Plan:
  """`<data_dir>/<split>/<class>/**` in shards of files, as torchvision's ImageFolder lists it."""
  root = os.path.join(data_dir, split)
  if not os.path.isdir(root):
    raise FileNotFoundError(f'{root} is not a directory: an image folder is read as '
                            '<data_dir>/<split>/<class>/<image> (config.dataset.data_dir).')
  classes = sorted(entry.name for entry in os.scandir(root) if entry.is_dir())
  files = []
  for label, name in enumerate(classes):
    for folder, _, names in sorted(os.walk(os.path.join(root, name), followlinks=True)):
      files += [(os.path.relpath(os.path.join(folder, file), root), label)
                for file in sorted(names) if file.lower().endswith(IMAGE_EXTENSIONS)]
  if not files:
    raise FileNotFoundError(f'{root} holds no class folders of images '
                            f'({", ".join(IMAGE_EXTENSIONS)}).')
  shards = [FilesShard(i, root, chunk) for i, chunk in enumerate(_chunks(files, images_per_shard))]
  return Plan(_source('image folder', root), shards, len(classes))
