"""The default config with a tiny model and every `config.eval` field the eval code reads.

A config file (not only a fixture) so the tests can run `eval.py` on it as a user would;
paths are set on the command line.
"""

import ml_collections
from ml_collections import config_dict

from configs import default


def get_config() -> ml_collections.ConfigDict:
  config = default.get_config()
  config.batch_size = 16
  config.model.z_dim = 16
  config.model.g_ch = 2  # 8 channels per block: the least AN's width check allows
  config.model.d_ch = 2
  config.model.an.num_entities = 4
  config.checkpoint.every_steps = 1
  config.eval.update(dict(
      reference_stats="", reference_class_stats="", reference_split="test[:90]",
      num_samples=40,  # not a multiple of the batch of 16
      samples_per_class=4, is_splits=4, batch_size=16, use_ema=True,
      standing_stats_batches=2, truncation=config_dict.placeholder(float),
      fid_num_samples=32, num_npz_samples=20, sample_classes=(0, 3, 9),
      inception_size=75))
  return config
