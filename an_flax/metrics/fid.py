r"""FID, the other Inception metrics and FD_DINOv2 of two image folders, statistics or feature
files.

  python -m an_flax.metrics.fid A B --inception_weights=inception_fid.npz \
      [--resize=legacy|clean|friendly] [--metrics=fid,is,prdc,kid,fd_dinov2] \
      [--dinov2_weights=dinov2_vitl14.npz] [--batch_size=50] \
      [--save_stats=A_stats.npz] [--save_features=A_features.npz]
  python -m an_flax.metrics.fid A --inception_weights=... --save_stats=A_stats.npz

FID as `python -m pytorch_fid A B` gives it by default. A is the reference (the real
images) and B what is scored against it, as StudioGAN's `--dset1` / `--dset2` and
clean-fid's `fdir1` / `fdir2`. Each is a split prepared by `python -m an_flax.data.prepare`
(`<prepared>/<split>`: the training images exactly), or a folder of images: flat, every
image file directly in it (pytorch-fid's and clean-fid's layout; extensions in any case),
or else one folder per class (`<split>/<class>/<image>`: give the split's folder); or an
`.npz`: `mu` and
`sigma` (pytorch-fid's, StudioGAN's moments, ours), or a features file that
`--save_features` wrote. Images are read as pytorch-fid reads them (PIL, converted to RGB,
uint8), of any sizes, and take the Inception input path `--resize` names
(`an_flax.metrics.preprocess`: legacy = pytorch-fid, clean = clean-fid, friendly =
StudioGAN's InceptionV3_tf).

--metrics, any of:
  fid   Frechet distance of A's and B's pool3 statistics: `FID: <value>`.
  is    Inception Score of each folder (`--is_splits`; logits without the fc bias, as the
        OpenAI code that produced the published IS numbers).
  prdc  precision, recall, density, coverage of B against A (k = `--nearest_k`, StudioGAN's 5).
  kid   KID of B against A, as clean-fid's `kernel_distance`.
  fd_dinov2  Frechet distance in DINOv2 ViT-L/14 features on dgm-eval's input path (its
        weights: `--dinov2_weights`, see an_flax.metrics.convert_dinov2_weights; `--resize`
        does not apply): `FD_DINOv2: <value>`.
prdc and kid compare individual features: each side must be a folder or a features file.
`--save_stats` writes A's statistics (A a folder) in pytorch-fid's layout; `--save_features`
writes A's features with their provenance (`an_flax.metrics.feature_files`), which is also
a statistics file; both write the Inception network's. A features file recorded with
another network, other weights or another resize is refused. A bad path, layout, file or
combination is one message and exit status 1.
"""

import argparse
import dataclasses
import itertools
import os
from collections.abc import Callable, Iterator, Sequence

import numpy as np
from PIL import Image

from an_flax.data import records
from an_flax.metrics import networks
from an_flax.metrics.feature_files import has_features, load_features, save_features
from an_flax.metrics.kid import kernel_inception_distance
from an_flax.metrics.prdc import STUDIOGAN_K, precision_recall_density_coverage
from an_flax.metrics.preprocess import INCEPTION_SIZE, RESIZE_MODES
from an_flax.metrics.scores import frechet_distance, inception_score
from an_flax.metrics.statistics import (
    Statistics, StatsAccumulator, load_statistics, save_statistics)

# pytorch-fid's IMAGE_EXTENSIONS; matched in any case (it matches lower case only).
IMAGE_EXTENSIONS = ("bmp", "jpg", "jpeg", "pgm", "png", "ppm", "tif", "tiff", "webp")
LAYOUTS = ("a folder of images (<folder>/<image>, as pytorch-fid reads), or of class "
           "folders (<split>/<class>/<image>: give the split's folder), or a prepared split "
           "(<prepared>/<split>)")
# Each metric's feature network, by name (NETWORKS builds them); A and B are measured once
# per network the asked metrics need.
METRIC_NETWORKS = {"fid": networks.INCEPTION, "is": networks.INCEPTION,
                   "prdc": networks.INCEPTION, "kid": networks.INCEPTION,
                   "fd_dinov2": networks.DINOV2}
NETWORKS: dict[str, Callable[[argparse.Namespace], networks.FeatureNetwork]] = {
    networks.INCEPTION: lambda args: networks.inception(
        args.inception_weights, args.resize, image_size=args.inception_size),
    networks.DINOV2: lambda args: networks.dinov2(args.dinov2_weights)}
FRECHET_METRICS = {"fid": "FID", "fd_dinov2": "FD_DINOv2"}  # metric -> its printed name
PAIR_METRICS = ("fid", "prdc", "kid", "fd_dinov2")  # those that compare B with A
FEATURE_METRICS = ("prdc", "kid")  # those that need individual features of both sides


class FIDInputError(ValueError):
  """A path that is neither statistics nor a folder laid out as `LAYOUTS` says."""


@dataclasses.dataclass(frozen=True)
class Side:
  """A or B in one network's features."""
  path: str
  statistics: Statistics
  features: np.ndarray | None  # None: the file holds only mu and sigma
  logits: np.ndarray | None  # None: not measured from images, or not asked for


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


def _check_exists(path: str) -> None:
  if not os.path.isfile(path):
    raise FIDInputError(f"{path} does not exist; give {LAYOUTS}, or an .npz of mu and sigma.")


def prepared_batches(split: records.PreparedSplit, batch_size: int) -> Iterator[np.ndarray]:
  """The prepared split's images in order, `batch_size` at a time."""
  images = (image for image, _, _ in records.iterate(split))
  while batch := list(itertools.islice(images, batch_size)):
    yield np.stack(batch)


def _images(path: str, batch_size: int) -> Iterator[np.ndarray]:
  """The batches of a prepared split's or a folder's images."""
  if records.is_prepared(path):
    split = records.open_split(path, "")
    print(f"{path}: {split.count} prepared images")
    return prepared_batches(split, batch_size)
  files = image_files(path)
  print(f"{path}: {len(files)} images")
  return image_batches(files, batch_size)


def measure(path: str, network: networks.FeatureNetwork, batch_size: int,
            keep_logits: bool) -> Side:
  """The features (and logits for the IS) of a prepared split's or a folder's images, or
  what an `.npz` holds."""
  if os.path.isdir(path):
    features, logits = zip(*(network.extract(images) for images in _images(path, batch_size)))
    features = np.concatenate(features)
    logits = None if logits[0] is None else np.concatenate(logits)  # none from some networks
    accumulator = StatsAccumulator()
    accumulator.update(features)
    return Side(path, accumulator.statistics(), features, logits if keep_logits else None)
  _check_exists(path)
  try:
    if not has_features(path):
      return Side(path, load_statistics(path), None, None)
  except (OSError, ValueError, KeyError) as error:
    raise FIDInputError(f"{path} is not an .npz with 'mu' and 'sigma' ({error}); give "
                        f"{LAYOUTS}, or such an .npz.") from error
  saved = load_features(path, network.space)
  return Side(path, saved.statistics, saved.features, None)


def check_inputs(paths: Sequence[str], metrics: Sequence[str]) -> None:
  """Fails before any image is read when the inputs cannot give the asked metrics."""
  for metric in FEATURE_METRICS:
    if metric not in metrics:
      continue
    for path in paths:
      if not os.path.isdir(path):
        _check_exists(path)
        if not has_features(path):
          raise FIDInputError(
              f"--metrics {metric} compares individual features, and {path} holds only mu "
              "and sigma: give the image folder, or a features file written with "
              "--save_features.")
  if "is" in metrics and not any(os.path.isdir(path) for path in paths):
    raise FIDInputError("--metrics is needs the logits of images: give an image folder.")


def score(metrics: Sequence[str], sides: dict[str, list[Side]], is_splits: int,
          nearest_k: int) -> list[str]:
  """One line per result: `FID: <value>`, `IS of <path>: ...`, `precision (k=5): ...`."""
  lines = []
  for metric in metrics:
    a, *b = sides[METRIC_NETWORKS[metric]]
    if metric in FRECHET_METRICS:
      lines.append(f"{FRECHET_METRICS[metric]}: "
                   f"{frechet_distance(*a.statistics, *b[0].statistics)}")
    elif metric == "is":
      for side in (a, *b):
        if side.logits is not None:
          mean, std = inception_score(side.logits, is_splits)
          lines.append(f"IS of {side.path}: {mean} +- {std} (splits={is_splits})")
    elif metric == "prdc":
      scores = precision_recall_density_coverage(a.features, b[0].features, nearest_k)
      lines += [f"{name} (k={nearest_k}): {value}" for name, value in scores.items()]
    elif metric == "kid":
      lines.append(f"KID: {kernel_inception_distance(a.features, b[0].features)}")
  return lines


def parse_metrics(text: str) -> list[str]:
  """'fid,kid' -> ['fid', 'kid'], each once; unknown names are a usage error."""
  metrics = [m.strip() for m in text.split(",") if m.strip()]
  unknown = [m for m in metrics if m not in METRIC_NETWORKS]
  if unknown or not metrics:
    raise argparse.ArgumentTypeError(
        f"unknown metric(s) {unknown}; give a comma-separated list of {', '.join(METRIC_NETWORKS)}")
  return list(dict.fromkeys(metrics))


def main(argv: Sequence[str] | None = None) -> None:
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("paths", nargs="+", metavar="A [B]",
                      help="image folders, .npz statistics or features files (A alone with "
                           "--save_stats / --save_features, or with --metrics is)")
  parser.add_argument("--inception_weights",
                      help="converted pytorch-fid weights (.npz), see "
                           "an_flax.metrics.convert_inception_weights (every metric but "
                           "fd_dinov2)")
  parser.add_argument("--dinov2_weights",
                      help="converted DINOv2 ViT-L/14 weights (.npz) for fd_dinov2, see "
                           "an_flax.metrics.convert_dinov2_weights")
  parser.add_argument("--resize", choices=RESIZE_MODES, default="legacy",
                      help="Inception input path: legacy (pytorch-fid), clean (clean-fid), "
                           "friendly (StudioGAN's InceptionV3_tf)")
  parser.add_argument("--metrics", type=parse_metrics, default=None,
                      help=f"comma-separated, of {', '.join(METRIC_NETWORKS)} (default: fid "
                           "with two paths, none with one)")
  parser.add_argument("--is_splits", type=int, default=10,
                      help="Inception Score splits (OpenAI's 10; StudioGAN's protocol: 1)")
  parser.add_argument("--nearest_k", type=int, default=STUDIOGAN_K.precision_recall,
                      help="k of precision, recall, density and coverage (StudioGAN's 5)")
  parser.add_argument("--save_stats", help="write A's statistics (A a folder) to this .npz")
  parser.add_argument("--save_features",
                      help="write A's features and provenance (A a folder) to this .npz")
  parser.add_argument("--batch_size", type=int, default=50, help="images per batch")
  parser.add_argument("--inception_size", type=int, default=INCEPTION_SIZE,
                      help=argparse.SUPPRESS)  # below 299 for tests only
  args = parser.parse_args(argv)
  metrics = args.metrics if args.metrics is not None else (
      ["fid"] if len(args.paths) == 2 else [])
  if len(args.paths) > 2:
    parser.error("give two paths A B, or one folder A")
  if len(args.paths) == 1:
    pairwise = [m for m in metrics if m in PAIR_METRICS]
    if pairwise:
      parser.error(f"--metrics {','.join(pairwise)} compare(s) B with A: give two paths A B")
    if not (metrics or args.save_stats or args.save_features):
      parser.error("give two paths A B, or one folder A with --save_stats, --save_features "
                   "or --metrics is")
  for flag in ("save_stats", "save_features"):
    if getattr(args, flag) and not os.path.isdir(args.paths[0]):
      parser.error(f"--{flag} writes what is measured in a folder; {args.paths[0]} is not one")
  if args.is_splits < 1 or args.nearest_k < 1:
    parser.error("--is_splits and --nearest_k must be at least 1")
  needed = [METRIC_NETWORKS[m] for m in metrics]
  if args.save_stats or args.save_features:  # They write the Inception network's.
    needed.append(networks.INCEPTION)
  try:
    check_inputs(args.paths, metrics)
    built = {name: NETWORKS[name](args) for name in dict.fromkeys(needed)}
    sides = {name: [measure(path, network, args.batch_size, keep_logits="is" in metrics)
                    for path in args.paths] for name, network in built.items()}
    if args.save_stats:
      save_statistics(args.save_stats, sides[networks.INCEPTION][0].statistics)
      print(f"Saved the statistics of {args.paths[0]} to {args.save_stats}")
    if args.save_features:
      save_features(args.save_features, sides[networks.INCEPTION][0].features,
                    built[networks.INCEPTION].space, {"folder": os.path.abspath(args.paths[0])})
      print(f"Saved the features of {args.paths[0]} to {args.save_features}")
    for line in score(metrics, sides, args.is_splits, args.nearest_k):
      print(line)
  except (OSError, ValueError) as error:  # FIDInputError, missing weights, < 2 images
    raise SystemExit(f"an_flax.metrics.fid: {error}") from None


if __name__ == "__main__":
  main()
