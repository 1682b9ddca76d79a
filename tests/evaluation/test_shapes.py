"""The shapes metrics end to end: against the real test split, as an evaluator in training
and in `evaluate_checkpoint`, and the configs that use them or must not."""

import importlib
import json
import os
import pathlib
import shutil

import jax
import numpy as np
import pytest

from an_flax.evaluation import evaluate, evaluators, restore, shapes_metrics
from an_flax.evaluation.evaluators import shapes
from an_flax.evaluation.generate import uniform_labels
from an_flax.models import build_models
from an_flax.runtime import mesh as mesh_lib

SCORES = {"frechet_distance", "class_accuracy", "precision", "recall", "density", "coverage",
          "consistency_error", "consistency_error_mirror", "consistency_error_tile"}


@pytest.fixture
def shapes_config(tiny_config, data_dir):
  tiny_config.dataset.data_dir = data_dir
  return tiny_config


@pytest.fixture(scope="module")
def real_metrics(make_tiny_config, data_dir):
  """(ShapesMetrics, the real test images, their labels)."""
  config = make_tiny_config()
  config.dataset.data_dir = data_dir
  built = shapes_metrics.ShapesMetrics(config, mesh_lib.create_mesh())
  return (built, *shapes_metrics.read_split(config, shapes_metrics.SPLIT, 16))


class _RealImages:
  """A Sampler stand-in whose 'samples' are given images: what a perfect G would give."""

  def __init__(self, images, labels):
    self._images, self._labels = images, labels

  def stream(self, variables, labels, key, desc=None):
    np.testing.assert_array_equal(labels, self._labels)
    for i in range(0, len(labels), 16):
      yield self._images[i:i + 16], self._labels[i:i + 16]


def test_real_test_images_score_as_the_reference(real_metrics):
  built, images, labels = real_metrics
  assert images.shape == (1000, 32, 32, 3) and images.dtype == np.uint8
  real = built.real.summary()
  assert real["class_accuracy"] >= 0.97
  # Background noise differs between the copies: a few levels, not 0 (the baseline).
  for layout in ("mirror", "tile"):
    assert 0.5 < real[f"consistency_error_{layout}"] < 10

  scores, per_class = built(_RealImages(images, labels), None, labels, None)
  assert set(scores) == SCORES and sorted(per_class) == list(range(10))
  assert scores["frechet_distance"] == pytest.approx(0, abs=1e-6)  # sqrtm round-off
  assert scores["precision"] == scores["recall"] == scores["coverage"] == 1.0
  for name, value in real.items():
    assert scores[name] == pytest.approx(value, rel=1e-12), name

  # Half the images swapped for another class's: everything moves the right way.
  wrong = (labels + 1) % 10
  scores_wrong, _ = built(_RealImages(images, wrong), None, wrong, None)
  assert scores_wrong["class_accuracy"] < 0.05
  assert scores_wrong["consistency_error"] > 3 * scores["consistency_error"]


def test_training_shapes_scores_g_ema(shapes_config, workdir):
  shapes_config.evals.shapes.every_steps = 5
  mesh = mesh_lib.create_mesh()
  [evaluator] = evaluators.build(shapes_config, mesh, build_models(shapes_config.model)[0],
                                 training=True)
  assert isinstance(evaluator, shapes.Evaluator) and evaluator.every_steps == 5
  state, _, _ = restore.restore_train_state(shapes_config, workdir, mesh_lib.create_mesh())
  g_ema = lambda state: {"params": state.ema_params, **state.ema_state}
  scores = evaluator(g_ema(state))
  assert set(scores) == {f"shapes/{name}" for name in SCORES} | {
      "shapes/real_consistency_error"}
  assert all(np.isfinite(v) for v in scores.values())
  assert 0 <= scores["shapes/class_accuracy"] <= 1 and scores["shapes/frechet_distance"] > 0
  assert evaluator(g_ema(state)) == scores  # same z and labels every time
  halve = lambda tree: jax.tree.map(lambda x: 0.5 * x, tree)
  changed = evaluator(g_ema(state.replace(ema_params=halve(state.ema_params))))
  assert changed["shapes/frechet_distance"] != scores["shapes/frechet_distance"]
  assert changed["shapes/real_consistency_error"] == scores["shapes/real_consistency_error"]


def test_evaluate_checkpoint_records_the_shapes_protocol(shapes_config, workdir, tmp_path,
                                                         capsys):
  run = str(tmp_path / "run")
  shutil.copytree(os.path.join(workdir, "checkpoints"), os.path.join(run, "checkpoints"))
  shapes_config.sampling.standing_stats_batches = 0
  full = evaluate.evaluate_checkpoint(shapes_config, run, step=1, names=["shapes"])
  with open(os.path.join(run, "eval_1.json")) as f:
    assert json.load(f) == json.loads(json.dumps(full))
  assert full["step"] == 1
  record = full["evals"]["shapes"]
  assert record["type"] == "shapes"
  assert set(record["results"]) == SCORES and record["num_samples"] == 40
  classifier = record["shapes_classifier"]
  assert classifier["weights"].endswith("shapes_classifier_32x32.npz")
  assert len(classifier["sha256"]) == 64 and classifier["test_accuracy"] >= 0.97
  assert record["reference"]["dataset"] == "symmetric_shapes"
  assert record["reference"]["split"] == "test" and record["reference"]["num_images"] == 1000
  assert record["nearest_k"] == {"precision_recall": 3, "density_coverage": 5}
  assert record["real"]["class_accuracy"] >= 0.97
  labels = uniform_labels(40, 10, shapes_config.seed)  # the classes sampled
  counts = np.bincount(labels, minlength=10)
  assert {int(k) for k in record["per_class_accuracy"]} == set(np.flatnonzero(counts))
  table = capsys.readouterr().out
  assert "Frechet distance" in table and f"{record['results']['coverage']:.3f}" in table


@pytest.mark.parametrize("fields, message", [
    ({"type": "vgg"}, r"config\.evals\.shapes\.type: unknown evaluator 'vgg'"),
    ({"num_samples": 5}, r"config\.evals\.shapes\.num_samples: must be at least 6"),
])
def test_bad_shapes_fields_are_named(shapes_config, fields, message):
  shapes_config.evals.shapes.update(fields)
  with pytest.raises(ValueError, match=message):
    evaluators.check(shapes_config)


def test_shapes_metrics_refuse_other_data(shapes_config):
  shapes_config.dataset.name = "cifar10"
  with pytest.raises(ValueError, match=r"config\.evals\.shapes\.type: the shapes metrics "
                                       "need dataset.name='symmetric_shapes'"):
    evaluators.check(shapes_config)


ROOT = pathlib.Path(__file__).parents[2]
CONFIGS = sorted(".".join(path.relative_to(ROOT).with_suffix("").parts)
                 for path in (ROOT / "configs").rglob("*.py")
                 if "inpainting" not in path.parts and path.name != "recipes.py")


@pytest.mark.parametrize("name", CONFIGS)
def test_only_configs_on_the_shapes_data_use_the_shapes_network(name):
  config = importlib.import_module(name).get_config()
  evaluators.check(config)
  types = {entry.type for entry in config.evals.values()}
  if config.dataset.name != "symmetric_shapes":
    assert types == {"inception"}
  if name == "configs.default":  # scores itself every few hundred steps, and at the end
    assert types == {"shapes"}
    assert 0 < config.evals.shapes.every_steps < config.num_train_steps
