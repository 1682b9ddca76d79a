"""Reference statistics of a dataset split equal a direct computation over its images,
padding excluded, per class too (written one class at a time)."""

import json

import numpy as np
import pytest

from an_flax import metrics
from an_flax.data import input_pipeline
from an_flax.evaluation import reference
from an_flax.metrics.networks import FeatureNetwork


def _extract(images, process_local=False):
  """A 5-feature stand-in for the Inception network."""
  x = np.asarray(images, np.float64) / 255.0
  features = np.concatenate([x.mean(axis=(1, 2)), x.std(axis=(1, 2)).mean(1, keepdims=True),
                             x.max(axis=(1, 2, 3))[:, None]], axis=1).astype(np.float32)
  return features, features[:, :2]


def test_reference_statistics_equal_direct_computation(tiny_config, data_dir, tmp_path):
  tiny_config.dataset.data_dir = data_dir
  options = tiny_config.evals.fid
  options.reference_stats = str(tmp_path / "out" / "ref.npz")
  options.reference_class_stats = str(tmp_path / "out" / "ref_classes.npz")
  provenance = reference.compute_reference(tiny_config, options, "evals.fid",
                                           FeatureNetwork(None, _extract), {"weights": "w"})

  images, labels = [], []
  for batch in input_pipeline.create_eval_dataset(tiny_config, "test[:90]", 16):
    images.append(batch["image"][batch["mask"]])
    labels.append(batch["label"][batch["mask"]])
  images, labels = np.concatenate(images), np.concatenate(labels)
  assert len(images) == 90 and provenance["num_images"] == 90
  expected, _ = metrics.compute_statistics([images], _extract)
  stats = metrics.load_statistics(options.reference_stats)
  np.testing.assert_allclose(stats.mu, expected.mu, rtol=1e-6)
  np.testing.assert_allclose(stats.sigma, expected.sigma, rtol=1e-6, atol=1e-12)

  expected_classes = metrics.compute_class_statistics([(images, labels)], _extract)
  classes = metrics.load_class_statistics(options.reference_class_stats)
  assert sorted(classes) == sorted(expected_classes)
  for label, want in expected_classes.items():
    np.testing.assert_allclose(classes[label].mu, want.mu, rtol=1e-6)
    np.testing.assert_allclose(classes[label].sigma, want.sigma, rtol=1e-6, atol=1e-12)

  with open(options.reference_class_stats + ".json") as f:
    sidecar = json.load(f)
  assert sidecar["images_per_class"] == {
      str(c): int(n) for c, n in zip(*np.unique(labels, return_counts=True))}
  assert sidecar["split"] == "test[:90]" and sidecar["network"] == {"weights": "w"}
  assert not list((tmp_path / "out").glob("*.tmp"))  # the feature file is gone


def test_missing_reference_path_is_an_error(tiny_config):
  with pytest.raises(ValueError, match=r"config\.evals\.fid\.reference_stats is not set"):
    reference.compute_reference(tiny_config, tiny_config.evals.fid, "evals.fid",
                                FeatureNetwork(None, _extract), {})


@pytest.mark.parametrize("dtype", ["float32", "float16"])
def test_reference_features_are_a_random_subset_of_the_split(dtype, tiny_config, data_dir,
                                                            tmp_path):
  """`num_samples` (40) of the 90 images' features, in the stored dtype, with the network,
  resize and source recorded; the statistics stay those of all 90."""
  tiny_config.dataset.data_dir = data_dir
  options = tiny_config.evals.fid
  options.update(reference_stats=str(tmp_path / "ref.npz"), features_dtype=dtype,
                 reference_features=str(tmp_path / "features.npz"))
  space = metrics.FeatureSpace("fake", "0" * 64, "friendly")
  reference.compute_reference(tiny_config, options, "evals.fid", FeatureNetwork(space, _extract),
                              {})
  images = np.concatenate([batch["image"][batch["mask"]] for batch in
                           input_pipeline.create_eval_dataset(tiny_config, "test[:90]", 16)])
  features, _ = _extract(images)
  saved = metrics.load_features(options.reference_features, space)
  chosen = reference.random_subset(90, 40, tiny_config.seed)
  assert len(np.unique(chosen)) == 40
  np.testing.assert_array_equal(saved.features, features[chosen].astype(dtype))
  assert saved.provenance["source"]["images_in_split"] == 90
  assert saved.provenance["source"]["split"] == "test[:90]"
  assert metrics.load_statistics(options.reference_stats).mu == pytest.approx(
      features.astype(np.float64).mean(0), rel=1e-6)
  assert not list(tmp_path.glob("*.tmp"))
