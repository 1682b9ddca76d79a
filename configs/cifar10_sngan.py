"""SN-GAN (projection D) on CIFAR-10: the standard 32x32 ResNet setting.

The optimiser, losses and D of `imagenet128_sngan` (hinge loss, Adam 2e-4 (0, 0.9),
5 D steps per G step, batch 64, no SN in G, no non-local layers) on 32x32 images:
G ch 256 with three up-blocks 4 -> 8 -> 16 -> 32, D ch 128, a shorter schedule.
"""

import ml_collections

from configs import default
from configs import imagenet128_sngan


def get_config() -> ml_collections.ConfigDict:
  config = imagenet128_sngan.get_config()
  config.num_train_steps = 100_000

  config.dataset = default.get_config().dataset  # CIFAR-10 fits in memory: cache it
  config.dataset.name = "cifar10"
  config.dataset.image_size = 32

  config.model.resolution = 32
  config.model.num_classes = 10
  config.model.g_ch = 256
  config.model.d_ch = 128
  config.model.g_multipliers = (1, 1, 1, 1)
  config.model.d_multipliers = (1, 1, 1, 1)

  config.optim.decay_start = 0
  config.ema.start_step = 1_000

  config.checkpoint.keep = default.get_config().checkpoint.keep
  config.log_every_steps = 100
  config.sample_every_steps = 5_000
  config.layout_every_steps = 5_000
  return config
