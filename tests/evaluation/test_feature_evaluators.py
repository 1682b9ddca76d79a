"""The inception and dinov2 evaluators' metrics (FID / FD_DINOv2, IS, precision / recall /
density / coverage, KID), their records, references and errors. The Inception network is
stood in for by the `fake_inception` fixture (conftest.py); DINOv2 is a tiny ViT with
random weights, checked against the torch transcription of dgm-eval's path. The metrics
themselves are tested against their reference code in tests/metrics."""

import functools
import json
import logging

import numpy as np
import pytest

from an_flax import metrics
from an_flax.data import input_pipeline
from an_flax.evaluation import evaluators, reference
from an_flax.evaluation.evaluators import inception
from an_flax.evaluation.generate import Sampler, sampling_batch_size, uniform_labels
from an_flax.metrics import networks
from an_flax.runtime import streams
from benchmarks.pytorch import dinov2 as torch_dinov2

COMMAND = "python eval.py --config=c.py --mode=reference"
PRDC = ("precision", "recall", "density", "coverage")


def _build(config, setup, training, name):
  _, mesh, generator, _, _ = setup
  [evaluator] = evaluators.build(config, mesh, generator, training=training, names=[name],
                                 reference_command=COMMAND)
  return evaluator


def _samples(config, setup, num, stream):
  """The images every Inception or DINOv2 evaluator of `config` draws for `num` samples."""
  _, mesh, generator, _, variables = setup
  sampler = Sampler(generator, mesh, sampling_batch_size(config), config.model.z_dim)
  labels = uniform_labels(num, config.model.num_classes, config.seed)
  return np.concatenate([images for images, _ in sampler.stream(
      variables, labels, streams.key(config.seed, stream))])


def _statistics(features):
  features = np.asarray(features, np.float64)
  return metrics.Statistics(features.mean(0), np.cov(features, rowvar=False))


@pytest.fixture
def friendly(tmp_path, inception_weights, make_tiny_config):
  """(config with every Inception metric on the friendly path against 50 random reference
  features and their statistics, those features)."""
  real = np.random.default_rng(1).normal(0.5, 0.1, (50, 5)).astype(np.float32)
  space = metrics.FeatureSpace("inception", networks.weights_sha256(inception_weights),
                               "friendly")
  paths = {"reference_stats": str(tmp_path / "stats.npz"),
           "reference_features": str(tmp_path / "features.npz")}
  metrics.save_statistics(paths["reference_stats"], _statistics(real))
  metrics.save_features(paths["reference_features"], real, space, {"split": "test"})
  config = make_tiny_config()
  config.evals.fid.update(inception_weights=inception_weights, resize="friendly",
                          metrics=("fid", "is", "prdc", "kid"), is_logits_with_bias=True,
                          is_splits=2, nearest_k=3, every_steps=1, **paths)
  return config, real


def test_training_scalars_are_the_asked_metrics_of_the_samples(setup, friendly, fake_inception):
  """On the entry's resize, k, splits and logits, against as many reference features as
  samples (a fixed random subset of the 50)."""
  config, real = friendly
  scores = _build(config, setup, True, "fid")(setup[4])
  assert fake_inception.builds == [{"image_size": 75, "logits_with_bias": True,
                                    "resize": "friendly"}]
  features, logits = fake_inception.extract(
      _samples(config, setup, 32, streams.Stream.TRAINING_FID), "friendly", True)
  used = real[reference.random_subset(50, 32, config.seed)]
  expected = {"fid": metrics.frechet_distance(*_statistics(features), *_statistics(real)),
              "inception_score": metrics.inception_score(logits, 2)[0],
              "kid": metrics.kernel_inception_distance(used, features),
              **metrics.precision_recall_density_coverage(used, features, 3)}
  assert scores == pytest.approx({f"fid/{k}": v for k, v in expected.items()}, rel=1e-6)


def test_report_records_every_protocol_choice(setup, friendly, fake_inception):
  config, _ = friendly
  evaluator = _build(config, setup, False, "fid")
  report = evaluator.report(setup[4])
  assert set(report["results"]) == {"fid", "is_mean", "is_std", "kid", *PRDC}
  assert report["metrics"] == ["fid", "is", "prdc", "kid"]
  assert (report["num_samples"], report["nearest_k"], report["is_splits"]) == (40, 3, 2)
  assert report["is_logits_with_bias"] is True
  assert report["kid"] == {"subsets": 100, "subset_size": 40}
  assert report["reference_features"]["num_used"] == 40
  assert report["reference_features"]["path"] == config.evals.fid.reference_features
  network = report["network"]
  assert (network["network"], network["resize"], network["input_size"]) == (
      "inception", "friendly", 75)
  assert "PIL bilinear" in network["input"] and "not clipped" in network["input"]
  rows = dict(type(evaluator).rows(report))
  assert rows["network"] == "inception, resize friendly"
  assert rows["KID (100 subsets of 40)"] == f"{report['results']['kid']:.5f}"
  assert "precision / recall (k=3)" in rows
  assert "IS (2 splits, logits with the fc bias)" in rows


@pytest.mark.parametrize("path, problem", [
    ("", "config.evals.fid.reference_features is not set: it must name the reference "
         "features file (prdc and kid compare individual features)"),
    ("nowhere.npz", "Reference file not found: config.evals.fid.reference_features="
                    "'nowhere.npz'")])
def test_prdc_and_kid_without_reference_features_fail_when_built(path, problem, setup, friendly,
                                                                 fake_inception):
  config, _ = friendly
  config.evals.fid.reference_features = path
  with pytest.raises(FileNotFoundError) as error:
    _build(config, setup, True, "fid")
  assert problem in str(error.value) and COMMAND in str(error.value)


def test_features_of_another_resize_are_refused(setup, friendly, fake_inception):
  config, _ = friendly
  config.evals.fid.resize = "clean"
  with pytest.raises(metrics.FeatureFileError,
                     match=r"config\.evals\.fid\.reference_features: .* holds features of "
                           r"network 'inception' .* resize 'friendly'; this evaluation uses "
                           r"network 'inception' .* resize 'clean'"):
    _build(config, setup, True, "fid")


def test_statistics_of_another_resize_are_refused_other_weights_warned(
    setup, fake_inception, inception_weights, data_dir, tmp_path, make_tiny_config, caplog):
  """The sidecar eval.py --mode=reference writes records the resize: another one is an
  error naming both; other weights (the same network and resize) only a warning."""
  config = make_tiny_config()
  config.dataset.data_dir = data_dir
  config.evals.fid.update(inception_weights=inception_weights, every_steps=1,
                          reference_stats=str(tmp_path / "legacy.npz"))
  evaluators.write_references(config, ["fid"])
  config.evals.fid.resize = "clean"
  with pytest.raises(reference.ReferenceMismatchError) as error:
    _build(config, setup, True, "fid")
  message = str(error.value)
  assert "config.evals.fid.reference_stats=" in message and COMMAND in message
  assert ("holds statistics of network 'inception' with resize 'legacy'" in message
          and "this evaluation uses network 'inception' with resize 'clean'" in message)

  sidecar = reference.provenance_path(config.evals.fid.reference_stats)
  with open(sidecar) as f:
    provenance = json.load(f)
  provenance["network"]["weights_sha256"] = "0" * 64
  with open(sidecar, "w") as f:
    json.dump(provenance, f)
  config.evals.fid.resize = "legacy"
  with caplog.at_level(logging.WARNING):
    _build(config, setup, True, "fid")
  assert "weights_sha256 '0000" in caplog.text


@pytest.mark.parametrize("type_name, fields, message", [
    ("dinov2", {"metrics": ("fd_dinov2", "is")}, r"config\.evals\.e\.metrics: \('fd_dinov2', "
                                                 r"'is'\) must name each of its metrics once, "
                                                 r"of fd_dinov2, prdc, kid"),
    ("inception", {"metrics": ("fid", "fid")}, r"config\.evals\.e\.metrics: .* once"),
    ("inception", {"resize": "bicubic"}, r"config\.evals\.e\.resize: 'bicubic' is not one of "
                                         r"legacy, clean, friendly"),
    ("inception", {"features_dtype": "float64"}, r"config\.evals\.e\.features_dtype: "
                                                 r"'float64' is not one of float32, float16"),
    ("inception", {"metrics": ("fid", "prdc"), "nearest_k": 5, "training_num_samples": 5},
     r"config\.evals\.e\.training_num_samples: 5 must be at least 6"),
])
def test_a_bad_entry_names_its_field(type_name, fields, message, tiny_config):
  tiny_config.evals.e = evaluators.entry(type_name, **fields)
  with pytest.raises(ValueError, match=message):
    evaluators.check(tiny_config)


def test_reference_mode_needs_an_entry_with_a_network(tiny_config):
  with pytest.raises(ValueError, match=r"writes the reference files of \['dinov2', "
                                       r"'inception'\] evaluators; config\.evals \['shapes'\]"):
    evaluators.write_references(tiny_config, ["shapes"])


@pytest.fixture
def tiny_dinov2_network(tiny_dinov2, monkeypatch):
  """The dinov2 evaluator builds the tiny ViT from its converted weights."""
  monkeypatch.setattr(networks, "dinov2", functools.partial(
      networks.dinov2, config=tiny_dinov2.config, image_size=tiny_dinov2.image_size))


def test_dinov2_evaluator_scores_fd_dinov2_as_dgm_eval(setup, tiny_dinov2, tiny_dinov2_network,
                                                      data_dir, tmp_path, make_tiny_config):
  """The reference written by eval.py --mode=reference's code and the samples' FD_DINOv2
  against dgm-eval's path in torch (its transform and the transcribed network, the same
  random weights, its FD formula): 1e-4 relative. 48 samples, more than the 32 feature
  dimensions. prdc and kid get the file's features and the samples'."""
  config = make_tiny_config()
  config.dataset.data_dir = data_dir
  config.evals.dino = evaluators.entry(
      "dinov2", weights=tiny_dinov2.weights, reference_split="test[:90]", every_steps=1,
      metrics=("fd_dinov2", "prdc", "kid"), nearest_k=3, num_samples=48, training_num_samples=48,
      reference_stats=str(tmp_path / "dino.npz"),
      reference_features=str(tmp_path / "dino_features.npz"))
  [provenance] = evaluators.write_references(config, ["dino"])
  assert provenance["network"]["network"] == "dinov2" and provenance["num_images"] == 90

  real = np.concatenate([batch["image"][batch["mask"]] for batch in
                         input_pipeline.create_eval_dataset(config, "test[:90]", 16)])
  real = torch_dinov2.dgm_eval_features(tiny_dinov2.torch_model, real, tiny_dinov2.image_size)
  images = _samples(config, setup, 48, streams.Stream.TRAINING_FID)
  fake = torch_dinov2.dgm_eval_features(tiny_dinov2.torch_model, images, tiny_dinov2.image_size)
  scores = _build(config, setup, True, "dino")(setup[4])
  assert set(scores) == {"dino/fd_dinov2", "dino/kid", *(f"dino/{m}" for m in PRDC)}
  expected = torch_dinov2.dgm_eval_fd(real.astype(np.float64), fake.astype(np.float64))
  assert expected > 0.1
  np.testing.assert_allclose(scores["dino/fd_dinov2"], expected, rtol=1e-4)

  saved = metrics.load_features(config.evals.dino.reference_features, metrics.FeatureSpace(
      "dinov2", networks.weights_sha256(tiny_dinov2.weights), "dgm-eval"))
  used = saved.features[reference.random_subset(48, 48, config.seed)]
  ours, _ = networks.dinov2(tiny_dinov2.weights).extract(images)
  assert scores["dino/kid"] == pytest.approx(metrics.kernel_inception_distance(used, ours))
  prdc = metrics.precision_recall_density_coverage(used, ours, 3)
  assert scores == pytest.approx({**scores, **{f"dino/{k}": v for k, v in prdc.items()}})

  report = _build(config, setup, False, "dino").report(setup[4])
  assert report["type"] == "dinov2" and report["metrics"] == ["fd_dinov2", "prdc", "kid"]
  assert (report["network"]["network"], report["network"]["resize"]) == ("dinov2", "dgm-eval")
  assert "bicubic" in report["network"]["input"]
  assert dict(evaluators.dinov2.Evaluator.rows(report))["FD_DINOv2"] == (
      f"{report['results']['fd_dinov2']:.2f}")


def test_missing_dinov2_weights_name_the_field(setup, tmp_path, make_tiny_config):
  config = make_tiny_config()
  missing = tmp_path / "dinov2_vitl14.npz"
  config.evals.dino = evaluators.entry("dinov2", weights=str(missing), every_steps=1)
  with pytest.raises(metrics.DINOv2WeightsError) as error:
    _build(config, setup, True, "dino")
  message = str(error.value)
  assert str(missing) in message and "config.evals.dino.weights" in message
  assert "python -m an_flax.metrics.convert_dinov2_weights" in message


def test_intra_fid_uses_the_entry_network(setup, inception_weights, fake_inception, tmp_path,
                                          make_tiny_config):
  """eval.py's intra-FID runs in the entry's input path too (here: clean)."""
  config = make_tiny_config()
  stats = _statistics(np.random.default_rng(2).normal(0.5, 0.1, (20, 5)))
  config.evals.fid.update(inception_weights=inception_weights, resize="clean",
                          reference_stats=str(tmp_path / "r.npz"),
                          reference_class_stats=str(tmp_path / "c.npz"))
  metrics.save_statistics(config.evals.fid.reference_stats, stats)
  metrics.save_class_statistics(config.evals.fid.reference_class_stats,
                                {c: stats for c in range(10)})
  evaluator = _build(config, setup, False, "fid")
  report = evaluator.report(setup[4])
  _, mesh, generator, _, variables = setup
  sampler = Sampler(generator, mesh, 16, config.model.z_dim)
  mean, _ = inception.streamed_intra_fid(
      sampler, variables, functools.partial(fake_inception.extract, resize="clean"), 10, 4,
      streams.key(config.seed, streams.Stream.INTRA_FID), {c: stats for c in range(10)})
  assert report["results"]["intra_fid"] == pytest.approx(mean)
  assert report["reference_class_stats"]["path"].endswith("c.npz")
