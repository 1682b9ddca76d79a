"""The default config with a tiny model and every `config.eval` field the eval code reads.

A config file (not only a fixture) so the tests can run `eval.py` on it as a user would;
paths are set on the command line.
"""

import ml_collections

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
  config.eval.update(dict(
      reference_split="test[:90]",
      num_samples=40,  # not a multiple of the batch of 16
      samples_per_class=4, is_splits=4, batch_size=16,
      standing_stats_batches=2, fid_num_samples=32, num_npz_samples=20,
      sample_classes=(0, 3, 9), inception_size=75,
      # The Inception path by default; tests of the shapes metrics switch to them.
      feature_network="inception", shapes_every_steps=0, shapes_num_samples=40))
  return config
