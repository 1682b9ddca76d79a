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
from an_flax.evaluation import evaluate, options as options_lib, reference
from an_flax.evaluation.generate import Sampler, uniform_labels
from an_flax.models import build_models
from an_flax.runtime import mesh as mesh_lib

# Offset folded into the config's seed (see evaluate.py's streams).
TRAINING_FID_STREAM = 4


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


def evaluators_from_config(config: ml_collections.ConfigDict) -> List[Any]:
  """The evaluators `config.eval` asks for (none when every period is 0)."""
  return [TrainingFID(config)] if config.eval.fid_every_steps > 0 else []
