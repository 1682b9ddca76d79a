"""Sharded sampling, streamed FID/IS/intra-FID, the inception evaluator in training and in
eval.py, and the errors for missing files. A cheap 4-feature stand-in for the Inception
network keeps the Frechet distances fast; the real network runs in test_eval_main.py."""

import json
import os
import shutil

import jax
import ml_collections
import numpy as np
import pytest

from an_flax import metrics
from an_flax.metrics import networks
from an_flax.evaluation import evaluate, evaluators, feature_metrics, restore, samples
from an_flax.evaluation.evaluators import inception
from an_flax.evaluation.reference import Reference
from an_flax.evaluation.generate import Sampler, sample_z, uniform_labels
from an_flax.models import build_models
from an_flax.runtime import mesh as mesh_lib

_LOGIT_WEIGHTS = np.random.default_rng(0).normal(size=(4, 6))


def _fake_extract(images, process_local=False):
  """(pool3, logits) stand-ins: channel means and overall spread of uint8 images."""
  x = np.asarray(images, np.float64) / 255.0
  features = np.concatenate([x.mean(axis=(1, 2)), x.std(axis=(1, 2, 3))[:, None]], axis=1)
  return features.astype(np.float32), (10.0 * features @ _LOGIT_WEIGHTS).astype(np.float32)


def _fake_statistics(seed: int) -> metrics.Statistics:
  x = np.random.default_rng(seed).normal(0.5, 0.1, size=(50, 4))
  return metrics.Statistics(x.mean(0), np.cov(x, rowvar=False))


def test_sampler_gives_exactly_num_samples_over_the_mesh(setup):
  config, mesh, generator, _, variables = setup
  sampler = Sampler(generator, mesh, batch_size=16, z_dim=config.model.z_dim)
  labels = uniform_labels(40, config.model.num_classes, seed=0)
  key = jax.random.PRNGKey(7)
  batches = list(sampler.stream(variables, labels, key))
  assert [len(b) for b, _ in batches] == [16, 16, 8]
  images = np.concatenate([b for b, _ in batches])
  np.testing.assert_array_equal(np.concatenate([l for _, l in batches]), labels)
  assert images.shape == (40, 32, 32, 3) and images.dtype == np.uint8
  assert len(np.unique(images.reshape(40, -1), axis=0)) == 40
  again = np.concatenate([b for b, _ in sampler.stream(variables, labels, key)])
  np.testing.assert_array_equal(images, again)
  # Explicit latents (any count) take the same path: batch 0's first 5 z reproduce it.
  z = sample_z(jax.random.fold_in(key, 0), 16, config.model.z_dim)[:5]
  np.testing.assert_array_equal(sampler.images(variables, np.asarray(z), labels[:5]),
                                images[:5])


def test_truncation_resamples_out_of_range_latents():
  z = np.asarray(sample_z(jax.random.PRNGKey(0), 4096, 16, truncation=0.5))
  assert np.abs(z).max() <= 0.5 and z.std() > 0.2
  assert np.abs(np.asarray(sample_z(jax.random.PRNGKey(0), 4096, 16))).max() > 2.0


def test_streamed_scores_equal_direct_computation(setup):
  config, mesh, generator, _, variables = setup
  sampler = Sampler(generator, mesh, batch_size=16, z_dim=config.model.z_dim)
  key, num_classes = jax.random.PRNGKey(3), config.model.num_classes
  reference = _fake_statistics(0)
  labels = uniform_labels(40, num_classes, seed=1)
  entry = ml_collections.ConfigDict({"metrics": ("fid", "is"), "is_splits": 4})
  scores = feature_metrics.score((b for b, _ in sampler.stream(variables, labels, key)),
                                 _fake_extract, Reference(reference, {}), entry)
  images = np.concatenate([b for b, _ in sampler.stream(variables, labels, key)])
  stats, logits = metrics.compute_statistics([images], _fake_extract, keep_logits=True)
  assert scores["fid"] == pytest.approx(metrics.frechet_distance(*stats, *reference))
  assert (scores["is_mean"], scores["is_std"]) == pytest.approx(
      metrics.inception_score(logits, 4))

  # 6 per class over batches of 16: classes straddle batches.
  class_reference = {c: _fake_statistics(c) for c in range(num_classes)}
  mean, per_class = inception.streamed_intra_fid(sampler, variables, _fake_extract,
                                                num_classes, 6, key, class_reference)
  class_labels = np.repeat(np.arange(num_classes), 6)
  images = np.concatenate([b for b, _ in sampler.stream(variables, class_labels, key)])
  expected_mean, expected = metrics.intra_fid(
      metrics.compute_class_statistics([(images, class_labels)], _fake_extract),
      class_reference)
  assert sorted(per_class) == list(range(num_classes))
  assert mean == pytest.approx(expected_mean)
  for c in range(num_classes):
    assert per_class[c] == pytest.approx(expected[c])


def _training_evaluators(config, mesh):
  return evaluators.build(config, mesh, build_models(config.model)[0], training=True)


def test_training_fid_scores_g_ema(setup, inception_weights, tmp_path, monkeypatch):
  config, mesh, _, state, _ = setup
  monkeypatch.setattr(networks, "make_feature_extractor", lambda *_, **__: _fake_extract)
  path = str(tmp_path / "reference.npz")
  metrics.save_statistics(path, _fake_statistics(0))
  config.evals.fid.update(inception_weights=inception_weights, reference_stats=path,
                          every_steps=5)
  [training_fid] = _training_evaluators(config, mesh)
  assert training_fid.every_steps == 5
  g_ema = lambda state: {"params": state.ema_params, **state.ema_state}
  scores = training_fid(g_ema(state))
  assert set(scores) == {"fid/fid", "fid/inception_score"}
  assert np.isfinite(scores["fid/fid"]) and scores["fid/fid"] >= 0
  assert scores["fid/inception_score"] >= 1
  assert training_fid(g_ema(state)) == scores  # same z and labels every time
  halve = lambda tree: jax.tree.map(lambda x: 0.5 * x, tree)
  assert training_fid(g_ema(state.replace(ema_params=halve(state.ema_params))))["fid/fid"] != (
      scores["fid/fid"])


def test_evaluate_checkpoint_with_intra_fid(setup, workdir, inception_weights, tmp_path,
                                            monkeypatch):
  config = setup[0]
  monkeypatch.setattr(networks, "make_feature_extractor", lambda *_, **__: _fake_extract)
  run = str(tmp_path / "run")
  shutil.copytree(os.path.join(workdir, "checkpoints"), os.path.join(run, "checkpoints"))
  fid = config.evals.fid
  fid.update(inception_weights=inception_weights,
             reference_stats=str(tmp_path / "reference.npz"),
             reference_class_stats=str(tmp_path / "classes.npz"))
  config.sampling.standing_stats_batches = 0
  metrics.save_statistics(fid.reference_stats, _fake_statistics(0))
  metrics.save_class_statistics(fid.reference_class_stats,
                                {c: _fake_statistics(c) for c in range(10)})
  record = evaluate.evaluate_checkpoint(config, run, step=1, names=["fid"])
  with open(os.path.join(run, "eval_1.json")) as f:
    assert json.load(f) == json.loads(json.dumps(record))
  assert record["step"] == 1 and record["standing_stats"] is None
  report = record["evals"]["fid"]
  assert report["samples_per_class"] == 4 and len(report["per_class_fid"]) == 10
  assert report["results"]["intra_fid"] == pytest.approx(
      np.mean(list(report["per_class_fid"].values())))
  assert report["reference_class_stats"]["path"] == fid.reference_class_stats
  assert report["reference_class_stats"]["split"] == "test[:90]"


def test_missing_reference_statistics_fail_before_restoring(inception_weights, tmp_path,
                                                            tiny_config):
  tiny_config.evals.fid.inception_weights = inception_weights
  missing = str(tmp_path / "imagenet_train.npz")
  for path, problem in (("", "is not set"), (missing, missing)):
    tiny_config.evals.fid.reference_stats = path
    with pytest.raises(FileNotFoundError) as error:
      evaluate.evaluate_checkpoint(tiny_config, str(tmp_path / "no_run"), names=["fid"],
                                   reference_command="python eval.py --config=c.py "
                                   "--mode=reference")
    message = str(error.value)
    assert "config.evals.fid.reference_stats" in message and problem in message
    assert "python eval.py --config=c.py --mode=reference" in message


@pytest.mark.parametrize("training", [False, True])
def test_missing_weights_fail_first(training, tmp_path, tiny_config):
  """The error names the file and the config field, before any checkpoint is touched."""
  missing = tmp_path / "nowhere" / "inception_fid.npz"
  tiny_config.evals.fid.update(inception_weights=str(missing), every_steps=3)
  with pytest.raises(metrics.InceptionWeightsError) as error:
    if training:
      _training_evaluators(tiny_config, mesh_lib.create_mesh())
    else:
      evaluate.evaluate_checkpoint(tiny_config, str(tmp_path / "no_run"), names=["fid"])
  message = str(error.value)
  assert str(missing) in message and "config.evals.fid.inception_weights" in message
  assert "pt_inception-2015-12-05-6726825d.pth" in message


def test_no_training_evaluators_when_every_period_is_off(tiny_config):
  assert all(entry.every_steps == 0 for entry in tiny_config.evals.values())
  assert _training_evaluators(tiny_config, mesh_lib.create_mesh()) == []


def test_blended_class_tables_interpolate_between_the_classes(setup):
  config, mesh, generator, _, variables = setup
  params = jax.tree_util.tree_map_with_path(  # make the classes differ
      lambda path, x: x + jax.random.normal(jax.random.PRNGKey(len(str(path))), x.shape)
      if path[-1].key == "embedding" else x, variables["params"])
  variables = {**variables, "params": params}
  weights = np.linspace(0, 1, 5, dtype=np.float32)
  blended = samples.blend_class_tables(params, config.model.num_classes, 2, 7, weights)
  sampler = Sampler(generator, mesh, batch_size=16, z_dim=config.model.z_dim)
  z = np.repeat(np.asarray(sample_z(jax.random.PRNGKey(0), 1, config.model.z_dim)), 5, axis=0)
  ends = sampler.images(variables, z[:2], np.array([2, 7]))
  path = sampler.images({**variables, "params": blended}, z, np.arange(5))
  np.testing.assert_allclose(path[[0, -1]].astype(int), ends.astype(int), atol=1)
  assert not np.array_equal(path[2], path[0]) and not np.array_equal(path[2], path[-1])
  assert samples.blend_class_tables({"dense": {"kernel": np.ones((3, 3))}}, 10, 0, 1,
                                    weights) is None


def test_missing_checkpoints_are_named(setup, workdir, tmp_path):
  config, mesh = setup[:2]
  with pytest.raises(FileNotFoundError, match=r"step 2 .*\[1, 3\]"):
    restore.restore_train_state(config, workdir, mesh, step=2)
  with pytest.raises(FileNotFoundError, match=r"No checkpoints in .*train\.py"):
    restore.restore_train_state(config, str(tmp_path), mesh)
