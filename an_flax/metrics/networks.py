"""Feature networks as the metrics' callers build them: the extractor and what its features
mean (`FeatureSpace`, recorded in feature files and reference statistics and checked when
they are read)."""

import dataclasses
import os

import numpy as np
from jax.sharding import Mesh

from an_flax.metrics import dinov2_weights
from an_flax.metrics.convert_inception_weights import sha256_of
from an_flax.metrics.dinov2 import INPUT_SIZE as DINOV2_SIZE, VIT_L14, ViTConfig
from an_flax.metrics.dinov2 import make_dinov2_extractor
from an_flax.metrics.extract import make_feature_extractor
from an_flax.metrics.feature_files import FeatureSpace
from an_flax.metrics.preprocess import INCEPTION_SIZE, ResizeMode
from an_flax.metrics.statistics import FeatureFn
from an_flax.metrics.weights import (
    SOURCE_SHA256_KEY, WEIGHTS_FIELD as INCEPTION_FIELD, load_inception_variables)

INCEPTION = "inception"
DINOV2 = "dinov2"
DINOV2_INPUT = "dgm-eval"  # The `resize` of DINOv2 features: dgm-eval's, the only input path.
# What each input path (`FeatureSpace.resize`) does to uint8 images, for records.
INPUT_PATHS = {
    "legacy": ("/255, bilinear resize to {size}x{size} without antialiasing (half-pixel "
               "centres, torch F.interpolate align_corners=False), 2x - 1 (pytorch-fid)"),
    "clean": ("PIL bicubic resize of each channel in float mode 'F' to {size}x{size} "
              "(antialiased), clipped to [0, 255], (x - 128) / 128 (clean-fid)"),
    "friendly": ("PIL bilinear resize of each channel in float mode 'F' to {size}x{size} "
                 "(antialiased), not clipped, (x / 255 - 0.5) / 0.5 (StudioGAN's friendly "
                 "resizer for InceptionV3_tf)"),
    DINOV2_INPUT: ("PIL 8-bit bicubic resize to {size}x{size}, /255, ImageNet mean and std "
                   "(dgm-eval)"),
}


@dataclasses.dataclass(frozen=True)
class FeatureNetwork:
  space: FeatureSpace
  extract: FeatureFn  # images -> (features, logits)


def describe_input(resize: str, size: int) -> str:
  """What the input path `resize` does, from uint8 images (generated ones quantised, round
  half up) to the network's `size` x `size` input."""
  return ("uint8 images (generated ones quantised, round half up), "
          + INPUT_PATHS[resize].format(size=size))


def weights_sha256(path: str | os.PathLike) -> str:
  """The sha256 of the `.pth` converted weights came from (recorded at conversion), so two
  conversions of one file are one network; the `.npz`'s own when none is recorded."""
  with np.load(path, allow_pickle=False) as f:
    if SOURCE_SHA256_KEY in f.files:
      return str(f[SOURCE_SHA256_KEY])
  return sha256_of(path)


def inception_network(variables: dict, sha256: str, resize: ResizeMode = "legacy", *,
                      image_size: int = INCEPTION_SIZE, mesh: Mesh | None = None,
                      logits_with_bias: bool = False) -> FeatureNetwork:
  """pytorch-fid's FID Inception with loaded `variables` (their weights' `sha256`) on the
  `resize` input path: pool3 features, IS logits (with the fc bias or, OpenAI's IS, without)."""
  extract = make_feature_extractor(variables, mesh=mesh, image_size=image_size, resize=resize,
                                   logits_with_bias=logits_with_bias)
  return FeatureNetwork(FeatureSpace(INCEPTION, sha256, resize), extract)


def inception(weights: str | os.PathLike, resize: ResizeMode = "legacy", *,
              image_size: int = INCEPTION_SIZE, mesh: Mesh | None = None,
              logits_with_bias: bool = False, field: str = INCEPTION_FIELD) -> FeatureNetwork:
  """`inception_network` of the converted weights at `weights` (`field` names where the path
  is given, for the error when it is missing or wrong)."""
  variables = load_inception_variables(weights, field)
  return inception_network(variables, weights_sha256(weights), resize, image_size=image_size,
                           mesh=mesh, logits_with_bias=logits_with_bias)


def dinov2(weights: str | os.PathLike, *, mesh: Mesh | None = None,
           field: str = dinov2_weights.WEIGHTS_FIELD, config: ViTConfig = VIT_L14,
           image_size: int = DINOV2_SIZE) -> FeatureNetwork:
  """DINOv2 ViT-L/14 on dgm-eval's input path: the features of FD_DINOv2, no logits.
  `config` and `image_size` other than the defaults are for tests only."""
  variables = dinov2_weights.load_dinov2_variables(weights, config, field)
  extract = make_dinov2_extractor(variables, mesh=mesh, config=config, image_size=image_size)
  return FeatureNetwork(FeatureSpace(DINOV2, weights_sha256(weights), DINOV2_INPUT), extract)
