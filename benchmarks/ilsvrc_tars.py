"""ILSVRC2012 tars laid out as image-net.org ships them, for TFDS's imagenet2012 builder.

Lets the tests and the input-pipeline benchmark run the real builder offline. The train
tar holds one `<synset>.tar` per class, each of `<synset>_<k>.JPEG`; the validation tar
holds flat `ILSVRC2012_val_<k>.JPEG` files, whose labels TFDS takes from its own package
(`validation_labels.txt`). Label i is the i-th synset of TFDS's `labels.txt`.
"""

from __future__ import annotations

import io
import os
import pathlib
import tarfile
from collections.abc import Mapping, Sequence

import numpy as np
from PIL import Image

from an_flax.data.image_sources import IMAGENET_TARS, imagenet_synsets
from an_flax.data.image_sources import imagenet_validation_synsets


def encode_jpeg(pixels: np.ndarray, quality: int) -> bytes:
  """uint8 (H, W, 3) or (H, W) pixels as a baseline JPEG (PIL's default 4:2:0 chroma)."""
  buffer = io.BytesIO()
  Image.fromarray(pixels).save(buffer, format='JPEG', quality=quality)
  return buffer.getvalue()


def _add(tar: tarfile.TarFile, name: str, payload: bytes) -> None:
  info = tarfile.TarInfo(name)
  info.size = len(payload)
  tar.addfile(info, io.BytesIO(payload))


def write_train_tar(manual_dir: os.PathLike,
                    jpegs: Mapping[int, Sequence[bytes]]) -> pathlib.Path:
  """Writes ILSVRC2012_img_train.tar of `jpegs` (label -> encoded images); returns its path."""
  names = imagenet_synsets()
  path = pathlib.Path(manual_dir) / IMAGENET_TARS['train']
  with tarfile.open(path, 'w') as outer:
    for label, images in jpegs.items():
      inner_bytes = io.BytesIO()
      with tarfile.open(fileobj=inner_bytes, mode='w') as inner:
        for k, payload in enumerate(images):
          _add(inner, f'{names[label]}_{k}.JPEG', payload)
      _add(outer, f'{names[label]}.tar', inner_bytes.getvalue())
  return path


def write_validation_tar(manual_dir: os.PathLike, jpegs: Sequence[bytes]) -> list[int]:
  """Writes ILSVRC2012_img_val.tar of `jpegs` in order; returns the labels TFDS gives them."""
  with tarfile.open(pathlib.Path(manual_dir) / IMAGENET_TARS['validation'], 'w') as tar:
    for k, payload in enumerate(jpegs):
      _add(tar, f'ILSVRC2012_val_{k + 1:08d}.JPEG', payload)
  names = imagenet_synsets()
  return [names.index(s) for s in imagenet_validation_synsets()[:len(jpegs)]]


def extract_train_tar(path: os.PathLike, folder: os.PathLike) -> None:
  """Unpacks a train tar as users do for ImageFolder loaders: <folder>/<synset>/<file>."""
  with tarfile.open(path) as outer:
    for member in outer:
      with tarfile.open(fileobj=outer.extractfile(member)) as inner:
        inner.extractall(pathlib.Path(folder) / member.name.removesuffix('.tar'),
                         filter='data')
