"""A small classifier of `symmetric_shapes`: the feature network of the metrics on a CPU.

It plays the Inception network's part for the embedded dataset: its penultimate layer
(`NUM_FEATURES` values, taken before their ReLU, so that no feature is constantly 0 and
their covariance has full rank) gives Frechet distances and precision / recall, its
logits the class accuracy of class-conditional samples. It takes the images of the
dataset's configs, 32x32 and 64x64; their weights ship beside this file
(`shapes_classifier_<S>x<S>.npz`, with the training run's record in a `.json` sidecar)
and are made from the generated train split by `TRAIN_COMMAND`, so nothing is downloaded.

Architecture: stages of a 3x3 convolution, ReLU and 2x2 average pooling down to 4x4; the
4x4 map is flattened rather than pooled, so the features keep where things are (a
mirrored pair and a 2x2 tiling differ in layout, not only in content); then a dense layer
(the features), a ReLU and the class logits. About 0.2 M parameters: a batch of 64
32x32 images takes a few milliseconds on one CPU core.
"""

import functools
import json
import os
import zipfile
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from flax import traverse_util
from jax.sharding import Mesh

from an_flax.metrics.extract import sharded_feature_fn
from an_flax.metrics.preprocess import uint8_to_float
from an_flax.metrics.statistics import FeatureFn

IMAGE_SIZES = (32, 64)
NUM_CLASSES = 10
NUM_FEATURES = 128
STAGE_WIDTHS = (16, 32, 64, 64)  # the first log2(size / 4) are used
TRAIN_COMMAND = "python -m an_flax.evaluation.train_shapes_classifier --image_size {size}"
WEIGHTS_DIR = os.path.dirname(os.path.abspath(__file__))


class ShapesClassifierError(ValueError):
  """The shapes classifier's weights are missing, unreadable or do not fit the network."""


class ShapesClassifier(nn.Module):
  """[-1, 1] float NHWC images (32x32 or 64x64) -> (features (N, 128), logits (N, 10))."""

  @nn.compact
  def __call__(self, x: jax.Array) -> tuple[jax.Array, jax.Array]:
    num_stages = _num_stages(x.shape[1])
    for width in STAGE_WIDTHS[:num_stages]:
      x = nn.relu(nn.Conv(width, (3, 3))(x))
      x = nn.avg_pool(x, (2, 2), strides=(2, 2))
    features = nn.Dense(NUM_FEATURES)(x.reshape(x.shape[0], -1))
    return features, nn.Dense(NUM_CLASSES)(nn.relu(features))


def _num_stages(image_size: int) -> int:
  if image_size not in IMAGE_SIZES:
    raise ShapesClassifierError(f"The shapes classifier takes {IMAGE_SIZES} pixel images, "
                                f"not {image_size}.")
  return int(np.log2(image_size // 4))


def weights_path(image_size: int) -> str:
  return os.path.join(WEIGHTS_DIR, f"shapes_classifier_{image_size}x{image_size}.npz")


def record_path(image_size: int) -> str:
  """The training run's record (test accuracy, seed, steps) beside the weights."""
  return weights_path(image_size).removesuffix(".npz") + ".json"


@functools.cache
def expected_shapes(image_size: int) -> dict[str, tuple[int, ...]]:
  """Flat variable names ('params/Conv_0/kernel', ...) -> shapes, traced from the module."""
  x = jax.ShapeDtypeStruct((1, image_size, image_size, 3), jnp.float32)
  variables = jax.eval_shape(ShapesClassifier().init, jax.random.key(0), x)
  return {k: tuple(v.shape) for k, v in traverse_util.flatten_dict(variables, sep="/").items()}


def save_shapes_classifier(path: str, variables: Any, record: dict[str, Any]) -> None:
  """Writes the variables (flat `.npz`) and the training record (`.json` beside them)."""
  flat = traverse_util.flatten_dict(jax.device_get(variables), sep="/")
  with open(path, "wb") as f:
    np.savez_compressed(f, **{k: np.asarray(v, np.float32) for k, v in flat.items()})
  with open(path.removesuffix(".npz") + ".json", "w") as f:
    json.dump(record, f, indent=2)
    f.write("\n")


def load_shapes_classifier(image_size: int, path: str | None = None) -> dict:
  """The shipped variables for `image_size` (or those at `path`), checked against the network.

  Raises ShapesClassifierError naming the file and the command that trains it.
  """
  path = path or weights_path(image_size)
  expected = expected_shapes(image_size)
  how = f"Train it (a few minutes on a CPU) with\n  {TRAIN_COMMAND.format(size=image_size)}"
  if not os.path.isfile(path):
    raise ShapesClassifierError(f"Shapes classifier weights not found: {path!r}. {how}")
  try:
    with np.load(path, allow_pickle=False) as f:
      flat = {k: f[k] for k in f.files}
  except (OSError, ValueError, zipfile.BadZipFile) as e:
    raise ShapesClassifierError(f"Cannot read {path!r} as .npz: {e}. {how}") from e
  found = {k: v.shape for k, v in flat.items()}
  if found != expected:
    raise ShapesClassifierError(f"{path!r} does not fit the {image_size}x{image_size} shapes "
                                f"classifier: it has {found}, the network needs {expected}. "
                                f"{how}")
  return traverse_util.unflatten_dict(flat, sep="/")


def load_training_record(image_size: int) -> dict[str, Any]:
  """The shipped weights' training record (`record_path`)."""
  with open(record_path(image_size)) as f:
    return json.load(f)


def make_shapes_extractor(variables: dict, *, mesh: Mesh | None = None) -> FeatureFn:
  """`extract(images) -> (features (N, 128), logits (N, 10))`, as `sharded_feature_fn`."""
  model = ShapesClassifier()
  return sharded_feature_fn(lambda v, images: model.apply(v, uint8_to_float(images)),
                            variables, mesh)
