"""eval.py --mode=protocols: the samples drawn once, each setting's reference from a given
file or measured in one pass over the split, every number equal to scoring the same samples
in that setting alone, and the legacy FID equal to --mode=metrics'. The Inception network is
stood in for by the `fake_inception` fixture (its features differ between resize modes);
DINOv2 is a tiny ViT with random weights, checked against dgm-eval's path in torch."""

import functools
import json
import os
import shutil

import numpy as np
import pytest

from an_flax import metrics
from an_flax.data import input_pipeline
from an_flax.evaluation import evaluate, evaluators, protocols, reference
from an_flax.evaluation.generate import Sampler, uniform_labels
from an_flax.evaluation.restore import restore_generator
from an_flax.metrics import networks
from an_flax.runtime import streams
from benchmarks.pytorch import dinov2 as torch_dinov2


@pytest.fixture
def counted(monkeypatch):
  """{'streams': sample streams drawn, 'passes': [extractors of each pass over a split]}."""
  counts = {"streams": 0, "passes": []}
  stream, measure_split = Sampler.stream, reference.measure_split

  def counting_stream(self, *args, **kwargs):
    counts["streams"] += 1
    return stream(self, *args, **kwargs)

  def counting_measure_split(config, split, extracts, sinks=None):
    counts["passes"].append(len(extracts))
    return measure_split(config, split, extracts, sinks)

  monkeypatch.setattr(Sampler, "stream", counting_stream)
  monkeypatch.setattr(reference, "measure_split", counting_measure_split)
  return counts


@pytest.fixture
def scored(setup, workdir, inception_weights, tiny_dinov2, fake_inception, counted, data_dir,
           tmp_path, make_tiny_config, monkeypatch):
  """(config, run directory, protocols record, the counts of its streams and passes): legacy
  statistics and clean features given (written by eval.py --mode=reference's code),
  friendly and DINOv2 to measure."""
  monkeypatch.setattr(networks, "dinov2", functools.partial(
      networks.dinov2, config=tiny_dinov2.config, image_size=tiny_dinov2.image_size))
  run = str(tmp_path / "run")
  shutil.copytree(os.path.join(workdir, "checkpoints"), os.path.join(run, "checkpoints"))
  config = make_tiny_config()
  config.dataset.data_dir = data_dir
  config.sampling.standing_stats_batches = 0
  fid = config.evals.fid
  fid.update(inception_weights=inception_weights, resize="clean",
             reference_stats=str(tmp_path / "clean.npz"),
             reference_features=str(tmp_path / "clean_features.npz"))
  evaluators.write_references(config, ["fid"])
  fid.update(resize="legacy", reference_stats=str(tmp_path / "legacy.npz"), reference_features="")
  evaluators.write_references(config, ["fid"])
  fid.reference_features = str(tmp_path / "clean_features.npz")
  config.evals.dino = evaluators.entry("dinov2", weights=tiny_dinov2.weights,
                                       reference_split="test[:90]")
  counted.update(streams=0, passes=[])
  record = protocols.write_protocols(config, run, step=3)
  return config, run, record, dict(counted)


def _statistics(features):
  features = np.asarray(features, np.float64)
  return metrics.Statistics(features.mean(0), np.cov(features, rowvar=False))


def test_every_number_is_its_setting_alone_on_samples_drawn_once(
    scored, setup, inception_weights, tiny_dinov2, fake_inception, tmp_path):
  """FID / FD against each setting's reference, the IS of each splits and logits, equal to
  the same samples scored in that setting alone; the legacy FID equal to --mode=metrics'
  (the same samples); the references' provenance, the table and the record written."""
  config, run, record, counts = scored
  assert counts == {"streams": 1, "passes": [2]}  # friendly and DINOv2 measured together
  mesh, generator = setup[1], setup[2]
  variables = restore_generator(config, run, mesh, 3).variables
  labels = uniform_labels(40, config.model.num_classes, config.seed)
  images = np.concatenate([b for b, _ in Sampler(generator, mesh, 16, config.model.z_dim).stream(
      variables, labels, streams.key(config.seed, streams.Stream.FID))])
  real = np.concatenate([batch["image"][batch["mask"]] for batch in
                         input_pipeline.create_eval_dataset(config, "test[:90]", 16)])
  clean_file = metrics.load_features(tmp_path / "clean_features.npz", metrics.FeatureSpace(
      "inception", networks.weights_sha256(inception_weights), "clean"))
  references = {"legacy": (metrics.load_statistics(tmp_path / "legacy.npz"),
                           str(tmp_path / "legacy.npz")),
                "clean": (clean_file.statistics, str(tmp_path / "clean_features.npz")),
                "friendly": (_statistics(fake_inception.extract(real, "friendly")[0]), None)}
  bias = metrics.load_inception_variables(inception_weights)["params"]["fc"]["bias"]
  rows = {(r["setting"], r["metric"], r.get("is_splits"), r.get("is_logits_with_bias")): r
          for r in record["rows"]}
  assert len(rows) == len(record["rows"]) == 3 * 5 + 1
  for resize, (real_stats, path) in references.items():
    features, logits = fake_inception.extract(images, resize)
    row = rows[f"inception, {resize}", "fid", None, None]
    assert row["value"] == pytest.approx(
        metrics.frechet_distance(*_statistics(features), *real_stats), rel=1e-9)
    assert row["reference"].get("path") == path
    assert row["reference"]["num_images"] == (40 if resize == "clean" else 90)
    for splits, with_bias in protocols.IS_SETTINGS:
      row = rows[f"inception, {resize}", "is", splits, with_bias]
      expected = metrics.inception_score(logits + (bias if with_bias else 0), splits)
      assert (row["value"], row["std"]) == pytest.approx(expected, rel=1e-5)
  assert rows["inception, friendly", "fid", None, None]["reference"]["source"] == (
      "measured by this run")
  assert rows["inception, legacy", "fid", None, None]["published"] == "pytorch-fid; the AN paper"
  assert rows["inception, friendly", "is", 1, True]["published"] == "StudioGAN's benchmark"
  fd = rows["dinov2, dgm-eval", "fd_dinov2", None, None]["value"]
  torch_features = [torch_dinov2.dgm_eval_features(tiny_dinov2.torch_model, x,
                                                   tiny_dinov2.image_size) for x in (real, images)]
  np.testing.assert_allclose(fd, torch_dinov2.dgm_eval_fd(
      *(f.astype(np.float64) for f in torch_features)), rtol=1e-4)
  assert record["settings"]["dinov2, dgm-eval"]["network"] == "dinov2"

  fid = evaluate.evaluate_checkpoint(config, run, step=3, names=["fid"])["evals"]["fid"]
  assert rows["inception, legacy", "fid", None, None]["value"] == fid["results"]["fid"]

  with open(os.path.join(run, "protocols_3.json")) as f:
    assert json.load(f) == json.loads(json.dumps(record))
  with open(os.path.join(run, "protocols_3.md")) as f:
    table = f.read()
  assert len([line for line in table.splitlines()
              if line.startswith(("| inception, ", "| dinov2, "))]) == 16
  legacy = rows["inception, legacy", "fid", None, None]["value"]
  assert (f"| inception, legacy | FID | {legacy:.3f} | pytorch-fid; the AN paper | "
          f"symmetric_shapes test[:90], 90 images: {config.evals.fid.reference_stats} |") in table
  assert "| inception, friendly | IS, 1 splits, logits with the fc bias |" in table


@pytest.mark.parametrize("second, names, message", [
    (False, ["shapes"], r"needs an 'inception' entry among config\.evals \['shapes'\]"),
    (True, None, r"takes one 'inception' entry; config\.evals has \['fid', 'fid2'\]: name one "
                 r"with --evals"),
])
def test_the_inception_entry_must_be_one(second, names, message, tiny_config, tmp_path):
  if second:
    tiny_config.evals.fid2 = evaluators.entry("inception")
  with pytest.raises(ValueError, match=message):
    protocols.write_protocols(tiny_config, str(tmp_path), names=names)
