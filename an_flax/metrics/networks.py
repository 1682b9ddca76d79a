"""Feature networks as the metrics' command lines build them: the extractor and what its
features mean (`FeatureSpace`, recorded in feature files and checked when they are read)."""

import dataclasses
import os

import numpy as np
from jax.sharding import Mesh

from an_flax.metrics.convert_inception_weights import sha256_of
from an_flax.metrics.extract import make_feature_extractor
from an_flax.metrics.feature_files import FeatureSpace
from an_flax.metrics.preprocess import INCEPTION_SIZE, ResizeMode
from an_flax.metrics.statistics import FeatureFn
from an_flax.metrics.weights import SOURCE_SHA256_KEY, load_inception_variables

INCEPTION = "inception"


@dataclasses.dataclass(frozen=True)
class FeatureNetwork:
  space: FeatureSpace
  extract: FeatureFn  # images -> (features, logits)


def inception_weights_sha256(path: str | os.PathLike) -> str:
  """The sha256 of the `.pth` the converted weights came from (recorded at conversion), so
  two conversions of one file are one network; the `.npz`'s own when none is recorded."""
  with np.load(path, allow_pickle=False) as f:
    if SOURCE_SHA256_KEY in f.files:
      return str(f[SOURCE_SHA256_KEY])
  return sha256_of(path)


def inception(weights: str | os.PathLike, resize: ResizeMode = "legacy", *,
              image_size: int = INCEPTION_SIZE, mesh: Mesh | None = None) -> FeatureNetwork:
  """pytorch-fid's FID Inception on the `resize` input path: pool3 features, IS logits."""
  variables = load_inception_variables(weights)
  extract = make_feature_extractor(variables, mesh=mesh, image_size=image_size, resize=resize)
  return FeatureNetwork(FeatureSpace(INCEPTION, inception_weights_sha256(weights), resize),
                        extract)
