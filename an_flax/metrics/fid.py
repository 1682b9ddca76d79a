r"""FID between two image folders or statistics files, as `python -m pytorch_fid A B` gives it.

  python -m an_flax.metrics.fid A B --inception_weights=inception_fid.npz \
      [--save_stats=A_stats.npz] [--batch_size=50]
  python -m an_flax.metrics.fid A --inception_weights=... --save_stats=A_stats.npz

A and B are each an `.npz` of `mu` and `sigma` (pytorch-fid's, StudioGAN's moments, ours),
a split prepared by `python -m an_flax.data.prepare` (`<prepared>/<split>`: the training
images exactly), or a folder of images: flat, every image file directly in it (pytorch-fid's
and clean-fid's layout; extensions in any case), or else one folder per class
(`<split>/<class>/<image>`: give the split's folder). Images are read as pytorch-fid reads
them (PIL, converted to RGB, uint8) and take the Inception input path of
`an_flax.metrics.preprocess`; images of several sizes are fine. `--save_stats` writes A's
statistics (A a folder) in pytorch-fid's layout. Prints `FID: <value>`; a bad path, layout or file is one message and exit status 1.
"""

import argparse
import itertools
import os
from collections.abc import Iterator, Sequence

import numpy as np
from PIL import Image

from an_flax.data import records
from an_flax.metrics.extract import make_feature_extractor
from an_flax.metrics.preprocess import INCEPTION_SIZE
from an_flax.metrics.scores import frechet_distance
from an_flax.metrics.statistics import (
    FeatureFn, Statistics, compute_statistics, load_statistics, save_statistics)
from an_flax.metrics.weights import load_inception_variables

# pytorch-fid's IMAGE_EXTENSIONS; matched in any case (it matches lower case only).
IMAGE_EXTENSIONS = ("bmp", "jpg", "jpeg", "pgm", "png", "ppm", "tif", "tiff", "webp")
LAYOUTS = ("a folder of images (<folder>/<image>, as pytorch-fid reads), or of class "
           "folders (<split>/<class>/<image>: give the split's folder), or a prepared split "
           "(<prepared>/<split>)")


class FIDInputError(ValueError):
  """A path that is neither statistics nor a folder laid out as `LAYOUTS` says."""


def _images_in(folder: str) -> list[str]:
  return sorted(os.path.join(folder, name) for name in os.listdir(folder)
                if name.lower().rsplit(".", 1)[-1] in IMAGE_EXTENSIONS
                and os.path.isfile(os.path.join(folder, name)))


def _subfolders(folder: str) -> list[str]:
  return sorted(os.path.join(folder, name) for name in os.listdir(folder)
                if os.path.isdir(os.path.join(folder, name)))


def image_files(folder: str) -> list[str]:
  """The images of `folder`: those directly in it, else those of its class folders."""
  files = _images_in(folder) or [f for sub in _subfolders(folder) for f in _images_in(sub)]
  if files:
    return files
  deeper = [sub for sub in _subfolders(folder)
            if any(_images_in(c) for c in _subfolders(sub))]
  hint = (f" Its folders {[os.path.basename(d) for d in deeper]} hold class folders of "
          f"images: give one split, e.g. {deeper[0]}." if deeper else "")
  raise FIDInputError(f"{folder} holds no images ({', '.join(IMAGE_EXTENSIONS)}) nor class "
                      f"folders of images; give {LAYOUTS}.{hint}")


def read_image(path: str) -> np.ndarray:
  """uint8 (H, W, 3), as pytorch-fid's `ImagePathDataset` reads it."""
  try:
    with Image.open(path) as image:
      return np.asarray(image.convert("RGB"))
  except (OSError, ValueError) as error:
    raise FIDInputError(f"{path} is not an image PIL can read ({error}).") from error


def image_batches(files: Sequence[str], batch_size: int) -> Iterator[np.ndarray]:
  """Up to `batch_size` images at a time, each batch of one image size."""
  batch = []
  for path in files:
    image = read_image(path)
    if batch and (len(batch) == batch_size or image.shape != batch[0].shape):
      yield np.stack(batch)
      batch = []
    batch.append(image)
  if batch:
    yield np.stack(batch)


def prepared_batches(split: records.PreparedSplit, batch_size: int) -> Iterator[np.ndarray]:
  """The prepared split's images in order, `batch_size` at a time."""
  images = (image for image, _, _ in records.iterate(split))
  while batch := list(itertools.islice(images, batch_size)):
    yield np.stack(batch)


def statistics_of(path: str, extract: FeatureFn, batch_size: int) -> Statistics:
  """`mu`, `sigma` of an `.npz`, or of the pool3 features of a prepared split's or a
  folder's images."""
  if records.is_prepared(path):
    split = records.open_split(path, "")
    print(f"{path}: {split.count} prepared images")
    return compute_statistics(prepared_batches(split, batch_size), extract)[0]
  if os.path.isdir(path):
    files = image_files(path)
    print(f"{path}: {len(files)} images")
    return compute_statistics(image_batches(files, batch_size), extract)[0]
  if not os.path.isfile(path):
    raise FIDInputError(f"{path} does not exist; give {LAYOUTS}, or an .npz of mu and sigma.")
  try:
    return load_statistics(path)
  except (OSError, ValueError, KeyError) as error:
    raise FIDInputError(f"{path} is not an .npz with 'mu' and 'sigma' ({error}); give "
                        f"{LAYOUTS}, or such an .npz.") from error


def main(argv: Sequence[str] | None = None) -> None:
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("paths", nargs="+", metavar="A [B]",
                      help="image folders or .npz statistics (one with --save_stats)")
  parser.add_argument("--inception_weights", required=True,
                      help="converted pytorch-fid weights (.npz), see "
                           "an_flax.metrics.convert_inception_weights")
  parser.add_argument("--save_stats", help="write A's statistics (A a folder) to this .npz")
  parser.add_argument("--batch_size", type=int, default=50, help="images per batch")
  parser.add_argument("--inception_size", type=int, default=INCEPTION_SIZE,
                      help=argparse.SUPPRESS)  # below 299 for tests only
  args = parser.parse_args(argv)
  if len(args.paths) > 2 or (len(args.paths) == 1 and not args.save_stats):
    parser.error("give two paths A B, or one folder A with --save_stats")
  if args.save_stats and not os.path.isdir(args.paths[0]):
    parser.error(f"--save_stats writes the statistics of a folder; {args.paths[0]} is not one")
  try:
    extract = make_feature_extractor(load_inception_variables(args.inception_weights),
                                     image_size=args.inception_size)
    stats = [statistics_of(path, extract, args.batch_size) for path in args.paths]
  except (OSError, ValueError) as error:  # FIDInputError, missing weights, < 2 images
    raise SystemExit(f"an_flax.metrics.fid: {error}") from None
  if args.save_stats:
    save_statistics(args.save_stats, stats[0])
    print(f"Saved the statistics of {args.paths[0]} to {args.save_stats}")
  if len(stats) == 2:
    print(f"FID: {frechet_distance(*stats[0], *stats[1])}")


if __name__ == "__main__":
  main()
