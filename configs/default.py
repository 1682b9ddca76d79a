"""Default config: a tiny AN-GAN on the embedded 32x32, 10-class dataset.

Small enough to train on a 2-core CPU in under ten minutes (compile, samples,
layouts and checkpoints included) while its per-class sample sheet is already
readable. AN after the 16x16 blocks of G and D; scored every 400 steps by the shipped
shapes classifier (the `shapes` evaluator), against the real test images.
"""

import ml_collections

from an_flax.evaluation import evaluators
from configs import base


def get_config() -> ml_collections.ConfigDict:
  config = base.get_config()
  config.batch_size = 16
  config.num_train_steps = 3200

  config.dataset.name = "symmetric_shapes"
  config.dataset.image_size = 32
  config.dataset.cache = True
  config.dataset.shuffle_buffer = 10_000
  config.dataset.prepared = ""  # generated data, read as it is

  config.model.resolution = 32
  config.model.num_classes = 10
  config.model.g_ch = 8
  config.model.d_ch = 8
  config.model.g_multipliers = (8, 8, 4, 2)  # 64 channels at 4x4 -> 8 -> 16 -> 32
  config.model.d_multipliers = (2, 4, 8, 8)
  config.model.g_nonlocal = base.non_local("attentive_norm", (16,))
  config.model.d_nonlocal = base.non_local("attentive_norm", (16,))

  config.optim.g_lr = 2e-4
  config.optim.d_lr = 2e-4
  config.loss.orthogonal_weight = 1e-5  # the weighted penalty stays below the hinge loss

  config.ema.decay = 0.995
  config.ema.start_step = 200

  config.checkpoint.every_steps = 800
  config.log_every_steps = 100
  config.sample_every_steps = 800
  config.layout_every_steps = 800

  config.evals = ml_collections.ConfigDict()
  config.evals.shapes = evaluators.entry("shapes", every_steps=400)
  return config
