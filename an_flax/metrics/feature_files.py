"""Feature files: a reference set's features and where they came from, beside `mu` / `sigma`.

Precision, recall, density, coverage and KID compare individual features, so scoring
against a reference without its images needs its features, not only their moments (as
StudioGAN's `feats/*.npz` and clean-fid's KID statistics keep them). One uncompressed
`.npz` holds
  mu, sigma    (D,), (D, D) float64: pytorch-fid's statistics layout, so pytorch-fid and
               `load_statistics` read the file as statistics;
  features     (N, D) float32 or float16 (half the size; about 3 significant digits);
  provenance   a JSON string: the network and the sha256 of its weights, the resize mode
               of its input, the source (dataset and split, or folder), the count.
`mu` and `sigma` are computed before any cast to float16, so FID does not depend on it.
A file is only as useful as its features are comparable: `load_features` refuses one
recorded with another network, weights or resize than the caller's, naming both.
"""

import dataclasses
import json
import os
import zipfile
from collections.abc import Mapping
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import ArrayLike, DTypeLike

from an_flax.metrics.statistics import Statistics, StatsAccumulator

FEATURES_KEY = "features"
PROVENANCE_KEY = "provenance"
FEATURE_DTYPES = (np.float32, np.float16)


@dataclasses.dataclass(frozen=True)
class FeatureSpace:
  """What a feature means: the network, its weights and the path of images into it."""
  network: str  # e.g. "inception"
  weights_sha256: str
  resize: str  # e.g. "legacy", "clean", "friendly" (an_flax.metrics.preprocess)

  def describe(self) -> str:
    return (f"network {self.network!r} (weights sha256 {self.weights_sha256[:12]}...), "
            f"resize {self.resize!r}")


class FeatureFile(NamedTuple):
  features: np.ndarray  # (N, D) as stored: float32 or float16
  statistics: Statistics
  provenance: dict[str, Any]


class FeatureFileError(ValueError):
  """A features file that cannot be read, holds no features, or holds other features."""


def save_features(path: str | os.PathLike, features: ArrayLike, space: FeatureSpace,
                  source: Mapping[str, Any], dtype: DTypeLike = np.float32) -> None:
  """Writes `features` (N, D), their float64 mu / sigma and provenance to `path` (.npz).

  `source` says where the images came from (JSON values, e.g. {"dataset": "imagenet2012",
  "split": "train"} or {"folder": "/data/real"}); the count is added.
  """
  features = np.asarray(features, np.float32)
  dtype = np.dtype(dtype)
  if dtype not in FEATURE_DTYPES:
    raise ValueError(f"Features are stored as float32 or float16, not {dtype}.")
  if dtype == np.float16 and np.abs(features).max() > np.finfo(np.float16).max:
    raise ValueError("Features exceed float16's range: store them as float32.")
  accumulator = StatsAccumulator()
  accumulator.update(features)
  mu, sigma = accumulator.statistics()
  provenance = {**dataclasses.asdict(space), "source": dict(source),
                "num_images": len(features), "dtype": dtype.name}
  with open(path, "wb") as f:
    np.savez(f, mu=mu, sigma=sigma, **{FEATURES_KEY: features.astype(dtype),
                                       PROVENANCE_KEY: np.array(json.dumps(provenance))})


def _open(path: str | os.PathLike) -> np.lib.npyio.NpzFile:
  if not os.path.isfile(path):
    raise FileNotFoundError(f"Features file not found: {os.path.abspath(path)}")
  try:
    return np.load(path, allow_pickle=False)
  except (OSError, ValueError, zipfile.BadZipFile) as error:
    raise FeatureFileError(f"{path} is not an .npz ({error}).") from error


def has_features(path: str | os.PathLike) -> bool:
  """Whether the `.npz` at `path` holds features, not only `mu` / `sigma`."""
  with _open(path) as f:
    return FEATURES_KEY in f.files


def load_features(path: str | os.PathLike, space: FeatureSpace) -> FeatureFile:
  """Reads a file `save_features` wrote, if its features live in `space`.

  Raises FeatureFileError when the file holds no features or provenance, or was recorded
  in another feature space (network, weights or resize) than `space`.
  """
  with _open(path) as f:
    if FEATURES_KEY not in f.files or PROVENANCE_KEY not in f.files:
      raise FeatureFileError(
          f"{path} holds no features with their provenance (keys: {', '.join(f.files)}); "
          "write one with save_features (python -m an_flax.metrics.fid <folder> "
          "--save_features <file>).")
    provenance = json.loads(str(f[PROVENANCE_KEY]))
    recorded = FeatureSpace(**{field.name: provenance.get(field.name, "unrecorded")
                               for field in dataclasses.fields(FeatureSpace)})
    if recorded != space:
      raise FeatureFileError(
          f"{path} holds features of {recorded.describe()}; this evaluation uses "
          f"{space.describe()}. Features of another network, weights or resize are not "
          "comparable: compute the reference features again with this evaluation's.")
    return FeatureFile(f[FEATURES_KEY], Statistics(f["mu"].astype(np.float64),
                                                   f["sigma"].astype(np.float64)), provenance)
