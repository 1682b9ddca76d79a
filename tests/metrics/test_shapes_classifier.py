"""The shipped shapes classifier: its files, its errors and its sharded extractor (its test
accuracy, which needs the data, is pinned in tests/evaluation/test_shapes_classifier.py)."""

import os
import time

import jax
import numpy as np
import pytest
from jax.sharding import Mesh

from an_flax import metrics
from an_flax.metrics import shapes_classifier


@pytest.mark.parametrize("size", shapes_classifier.IMAGE_SIZES)
def test_shipped_weights_load_and_are_small(size):
  variables = metrics.load_shapes_classifier(size)
  assert jax.tree.map(np.shape, variables) == jax.tree.map(
      np.shape, jax.eval_shape(shapes_classifier.ShapesClassifier().init, jax.random.key(0),
                               jax.ShapeDtypeStruct((1, size, size, 3), np.float32)))
  assert os.path.getsize(shapes_classifier.weights_path(size)) < 1_000_000
  record = shapes_classifier.load_training_record(size)
  assert record["image_size"] == size and record["command"].endswith(f"--image_size {size}")


def test_missing_or_mismatched_weights_name_the_file_and_the_command(tmp_path):
  missing = str(tmp_path / "nowhere.npz")
  with pytest.raises(metrics.ShapesClassifierError) as error:
    metrics.load_shapes_classifier(32, missing)
  assert missing in str(error.value)
  assert "python -m an_flax.evaluation.train_shapes_classifier --image_size 32" in str(
      error.value)
  # The 64x64 network has a fourth stage: its file does not fit the 32x32 one.
  with pytest.raises(metrics.ShapesClassifierError, match="does not fit the 32x32"):
    metrics.load_shapes_classifier(32, shapes_classifier.weights_path(64))
  with pytest.raises(metrics.ShapesClassifierError, match=r"\(32, 64\) pixel images"):
    metrics.load_shapes_classifier(48)


def test_extractor_gives_features_and_logits_of_every_image_over_the_devices():
  """5 images on 8 devices (padded), uint8 or [-1, 1] floats, equal to the plain module."""
  variables = metrics.load_shapes_classifier(32)
  extract = metrics.make_shapes_extractor(variables)
  images = np.random.default_rng().integers(0, 256, size=(5, 32, 32, 3), dtype=np.uint8)
  features, logits = extract(images)
  assert features.shape == (5, shapes_classifier.NUM_FEATURES) and logits.shape == (5, 10)
  assert features.min() < 0  # taken before the ReLU
  want_features, want_logits = shapes_classifier.ShapesClassifier().apply(
      variables, images.astype(np.float32) / 127.5 - 1)
  # float32 sums of about 600 terms, summed in another order at another batch size.
  np.testing.assert_allclose(features, want_features, rtol=1e-4, atol=1e-4)
  np.testing.assert_allclose(logits, want_logits, rtol=1e-4, atol=1e-4)
  floats = images.astype(np.float32) / 127.5 - 1  # quantised back to the same uint8
  np.testing.assert_allclose(extract(floats)[1], logits, rtol=1e-4, atol=1e-4)  # as above


def test_a_batch_takes_milliseconds():
  """Fast enough to score 1000 samples during training: a batch of 64 32x32 images on
  one device in under 50 ms (a few ms on an idle core; the margin is for a shared CPU)."""
  extract = metrics.make_shapes_extractor(metrics.load_shapes_classifier(32),
                                          mesh=Mesh(jax.devices()[:1], ("data",)))
  images = np.zeros((64, 32, 32, 3), np.uint8)
  extract(images)  # compiles
  seconds = []
  for _ in range(5):
    start = time.perf_counter()
    extract(images)
    seconds.append(time.perf_counter() - start)
  assert np.median(seconds) < 0.05, seconds
