"""`eval.py` end to end, in subprocesses as a user runs it: reference statistics of the
embedded data set, metrics of a checkpoint with the real (randomly initialised) FID
Inception, and samples."""

import json
import math
import os
import pathlib

import numpy as np
import pytest
from PIL import Image

from an_flax import metrics
from an_flax.metrics.convert_inception_weights import sha256_of


@pytest.fixture(scope="module")
def reference_files(run_eval, tmp_path_factory, inception_weights, data_dir):
  folder = tmp_path_factory.mktemp("reference")
  paths = {"reference_stats": str(folder / "shapes_test.npz"),
           "reference_class_stats": str(folder / "shapes_test_classes.npz"),
           "reference_features": str(folder / "shapes_test_features.npz")}
  run_eval("--mode=reference", f"--config.evals.fid.inception_weights={inception_weights}",
           f"--config.dataset.data_dir={data_dir}", "--config.evals.fid.features_dtype=float16",
           *(f"--config.evals.fid.{k}={v}" for k, v in paths.items()))
  return paths


def test_reference_mode_writes_statistics_and_provenance(reference_files, inception_weights):
  stats = metrics.load_statistics(reference_files["reference_stats"])
  assert stats.mu.shape == (2048,) and stats.sigma.shape == (2048, 2048)
  assert np.all(np.isfinite(stats.sigma))
  with open(reference_files["reference_stats"] + ".json") as f:
    provenance = json.load(f)
  assert provenance["dataset"] == "symmetric_shapes"
  assert provenance["split"] == "test[:90]"
  assert provenance["num_images"] == 90
  network = provenance["network"]
  assert network["weights"] == os.path.abspath(inception_weights)
  assert network["input_size"] == 75
  assert (network["network"], network["resize"]) == ("inception", "legacy")
  # The features: 40 (num_samples) of the 90 images, float16, in the recorded space.
  saved = metrics.load_features(reference_files["reference_features"], metrics.FeatureSpace(
      "inception", network["weights_sha256"], "legacy"))
  assert saved.features.shape == (40, 2048) and saved.features.dtype == np.float16
  assert saved.provenance["source"]["split"] == "test[:90]"
  assert saved.provenance["source"]["images_in_split"] == 90
  classes = metrics.load_class_statistics(reference_files["reference_class_stats"])
  with open(reference_files["reference_class_stats"] + ".json") as f:
    counts = json.load(f)["images_per_class"]
  assert sorted(classes) == sorted(int(c) for c in counts)
  assert sum(counts.values()) == 90
  assert all(classes[c].sigma.shape == (2048, 2048) for c in classes)


def test_metrics_mode_records_the_protocol(run_eval, reference_files, inception_weights, workdir,
                                          checkpoint_steps):
  result = run_eval(f"--workdir={workdir}", "--evals=fid",
                    f"--config.evals.fid.inception_weights={inception_weights}",
                    f"--config.evals.fid.reference_stats={reference_files['reference_stats']}",
                    "--config.evals.fid.reference_features="
                    f"{reference_files['reference_features']}",
                    "--config.evals.fid.metrics=('fid','is','prdc','kid')",
                    "--config.evals.fid.nearest_k=3", "--config.evals.fid.is_logits_with_bias=True",
                    "--config.sampling.truncation=1.5")
  newest = max(checkpoint_steps)
  with open(os.path.join(workdir, f"eval_{newest}.json")) as f:
    record = json.load(f)
  assert list(record["evals"]) == ["fid"]
  report = record["evals"]["fid"]
  results = report["results"]
  assert math.isfinite(results["fid"]) and results["fid"] >= 0
  assert results["is_mean"] >= 1 and results["is_std"] >= 0
  assert all(0 <= results[m] <= 1 for m in ("precision", "recall", "coverage"))
  assert results["density"] >= 0 and math.isfinite(results["kid"])
  assert "FID" in result.stdout and f"{results['fid']:.2f}" in result.stdout
  assert f"{results['kid']:.5f}" in result.stdout and "precision / recall (k=3)" in result.stdout
  assert record["step"] == newest
  assert record["checkpoint"].endswith(os.path.join("checkpoints", str(newest)))
  assert record["generator"] == "G_ema"
  assert record["standing_stats"]["batches"] == 2
  assert record["truncation"] == 1.5
  assert report["num_samples"] == 40 and report["is_splits"] == 4
  assert report["metrics"] == ["fid", "is", "prdc", "kid"] and report["nearest_k"] == 3
  assert report["is_logits_with_bias"] is True
  assert report["kid"] == {"subsets": 100, "subset_size": 40}
  assert report["reference_features"]["num_used"] == 40
  assert report["reference_features"]["path"] == reference_files["reference_features"]
  network = report["network"]
  assert network["weights"] == os.path.abspath(inception_weights)
  assert network["sha256"] == sha256_of(inception_weights)
  assert len(network["weights_sha256"]) == 64 and network["resize"] == "legacy"
  assert "bilinear" in network["input"] and "without antialiasing" in network["input"]
  assert "uint8" in network["input"] and network["input_size"] == 75
  assert report["reference_stats"]["path"] == os.path.abspath(reference_files["reference_stats"])
  assert report["reference_stats"]["dataset"] == "symmetric_shapes"
  assert report["reference_stats"]["split"] == "test[:90]"
  assert report["reference_class_stats"] is None and "intra_fid" not in results


def test_samples_mode_writes_sheets_and_npz(run_eval, workdir, checkpoint_steps, tiny_config):
  run_eval("--mode=samples", f"--workdir={workdir}", f"--checkpoint_step={checkpoint_steps[0]}")
  folder = pathlib.Path(workdir) / f"samples_{checkpoint_steps[0]}"
  classes = tiny_config.sampling.sample_classes
  for name in [f"class_{c}.png" for c in classes] + [
      "classes.png", "interp_z.png", "interp_class.png"]:
    with Image.open(folder / name) as image:
      assert image.mode == "RGB" and min(image.size) > 32
  with np.load(folder / "samples.npz") as f:
    images, labels = f["images"], f["labels"]
    # BigGAN-PyTorch's inception_tf13.py (ajbrock/BigGAN-PyTorch at 98459431): `ims =
    # np.load(fname)['x']`, then `list(ims.swapaxes(1,2).swapaxes(2,3))`, each image
    # asserted to be 3-dimensional with values in [0, 255] and a maximum above 10.
    tf13_images = list(f["x"].swapaxes(1, 2).swapaxes(2, 3))
    np.testing.assert_array_equal(f["y"], labels)
  assert images.shape == (20, 32, 32, 3) and images.dtype == np.uint8
  assert labels.shape == (20,) and labels.min() >= 0 and labels.max() < 10
  assert images.std() > 0
  np.testing.assert_array_equal(np.stack(tf13_images), images)
  assert tf13_images[0].ndim == 3 and tf13_images[0].max() > 10
  with open(folder / "info.json") as f:
    assert json.load(f)["step"] == checkpoint_steps[0]


def test_protocols_mode_without_an_inception_entry_is_one_message(run_eval, workdir):
  result = run_eval("--mode=protocols", f"--workdir={workdir}", "--evals=shapes", check=False)
  assert result.returncode == 1
  assert "--mode=protocols needs an 'inception' entry among config.evals ['shapes']" in (
      result.stderr)
  assert "Traceback" not in result.stderr
