"""The default config with a tiny model, both evaluator types and every sampling field the
eval code reads.

A config file (not only a fixture) so the tests can run `eval.py` on it as a user would;
paths are set on the command line.
"""

import ml_collections

from an_flax.evaluation import evaluators
from configs import default


def get_config() -> ml_collections.ConfigDict:
  config = default.get_config()
  config.batch_size = 16
  config.model.z_dim = 16
  config.model.g_ch = 2  # AN needs a multiple of 8 channels where it sits
  config.model.d_ch = 2
  config.model.g_multipliers = (4, 4, 4, 4)
  config.model.d_multipliers = (4, 4, 4, 4)
  config.model.an.num_entities = 4
  config.checkpoint.every_steps = 1
  config.sampling.update(dict(batch_size=16, standing_stats_batches=2, num_npz_samples=20,
                              sample_classes=(0, 3, 9)))
  # eval.py scores `fid` unless --evals names others; tests of the shapes metrics name them.
  config.evals = ml_collections.ConfigDict()
  config.evals.fid = evaluators.entry(
      "inception", reference_split="test[:90]",
      num_samples=40,  # not a multiple of the batch of 16
      training_num_samples=32, samples_per_class=4, is_splits=4, inception_size=75)
  config.evals.shapes = evaluators.entry("shapes", num_samples=40)
  return config
