"""Evaluators of G_ema that the GAN trainer runs every few steps (big_vision style: built
from the config by the entry point and handed to `train_and_evaluate`).

Each is an object with `every_steps` and `__call__(variables) -> {name: value}`, called
on every process with G_ema's variables. They use the same z and labels every time, so
successive values differ by the model only.
"""

from typing import Any, Dict, List

import jax
import ml_collections

from an_flax import metrics
from an_flax.evaluation import evaluate, options as options_lib, reference, shapes
from an_flax.evaluation.generate import Sampler, uniform_labels
from an_flax.models import build_models
from an_flax.runtime import mesh as mesh_lib

# Offsets folded into the config's seed (see evaluate.py's streams).
TRAINING_FID_STREAM, TRAINING_SHAPES_STREAM = 4, 6


class TrainingFID:
  """FID and Inception Score of `eval.fid_num_samples` samples of G_ema, every
  `eval.fid_every_steps` steps, against `eval.reference_stats`.

  G_ema's stored statistics, no truncation. The weights and reference statistics are
  loaded on construction, so a missing file fails before training starts. Works in
  multi-process jobs: every process scores the same samples and gets the same values.
  """

  def __init__(self, config: ml_collections.ConfigDict):
    options_lib.check_eval_config(config)
    options = config.eval
    self.every_steps = options.fid_every_steps
    inception_variables = metrics.load_inception_variables(options.inception_weights)
    reference.check_reference(options.reference_stats, "reference_stats")
    self._reference = metrics.load_statistics(options.reference_stats)
    mesh = mesh_lib.create_mesh()
    self._extract = metrics.make_feature_extractor(inception_variables, mesh=mesh,
                                                   image_size=options.inception_size)
    generator, _ = build_models(config.model)
    self._sampler = Sampler(generator, mesh, options_lib.batch_size(config), config.model.z_dim)
    self._labels = uniform_labels(options.fid_num_samples, config.model.num_classes,
                                  config.seed)
    self._key = jax.random.fold_in(jax.random.PRNGKey(config.seed), TRAINING_FID_STREAM)
    self._is_splits = options.is_splits

  def __call__(self, variables: Any) -> Dict[str, float]:
    scores = evaluate.fid_and_inception_score(
        self._sampler, variables, self._extract, self._labels, self._key, self._reference,
        self._is_splits)
    return {"fid": scores["fid"], "inception_score": scores["is_mean"]}


class TrainingShapes:
  """The shapes metrics (an_flax/evaluation/shapes.py) of `eval.shapes_num_samples`
  samples of G_ema, every `eval.shapes_every_steps` steps, against the real test split.

  As `TrainingFID`: G_ema's stored statistics, no truncation, fixed z and labels; the
  classifier is loaded and the real images measured on construction. Scores are named
  'shapes/<metric>', beside 'shapes/real_consistency_error' (the real images' error).
  """

  def __init__(self, config: ml_collections.ConfigDict):
    options_lib.check_eval_config(config)
    self.every_steps = config.eval.shapes_every_steps
    mesh = mesh_lib.create_mesh()
    self._metrics = shapes.ShapesMetrics(config, mesh)
    generator, _ = build_models(config.model)
    self._sampler = Sampler(generator, mesh, options_lib.batch_size(config), config.model.z_dim)
    self._labels = uniform_labels(config.eval.shapes_num_samples, config.model.num_classes,
                                  config.seed)
    self._key = jax.random.fold_in(jax.random.PRNGKey(config.seed), TRAINING_SHAPES_STREAM)
    self._real_error = self._metrics.real.summary()["consistency_error"]

  def __call__(self, variables: Any) -> Dict[str, float]:
    scores, _ = self._metrics(self._sampler, variables, self._labels, self._key)
    return {**{f"shapes/{name}": value for name, value in scores.items()},
            "shapes/real_consistency_error": self._real_error}


def evaluators_from_config(config: ml_collections.ConfigDict) -> List[Any]:
  """The evaluators `config.eval` asks for (none when every period is 0)."""
  evaluators = []
  if config.eval.fid_every_steps > 0:
    evaluators.append(TrainingFID(config))
  if config.eval.shapes_every_steps > 0:
    evaluators.append(TrainingShapes(config))
  return evaluators
