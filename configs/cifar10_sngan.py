"""SN-GAN (projection D) on CIFAR-10: the standard 32x32 ResNet setting.

G ch 256 with three up-blocks 4 -> 8 -> 16 -> 32, D ch 128, hinge loss,
Adam 2e-4 (0, 0.9), 5 D steps per G step, batch 64, no non-local layers.
"""

import ml_collections

from configs import default


def get_config() -> ml_collections.ConfigDict:
  config = default.get_config()
  config.batch_size = 64
  config.num_train_steps = 100_000

  config.dataset.name = "cifar10"
  config.dataset.image_size = 32

  config.model.resolution = 32
  config.model.num_classes = 10
  config.model.g_ch = 256
  config.model.d_ch = 128
  config.model.g_multipliers = (1, 1, 1, 1)
  config.model.d_multipliers = (1, 1, 1, 1)
  config.model.g_spectral_norm = False
  config.model.g_nonlocal = default.nonlocal_config("none")
  config.model.d_nonlocal = default.nonlocal_config("none")

  config.optim.g_lr = 2e-4
  config.optim.d_lr = 2e-4
  config.optim.b1 = 0.0
  config.optim.b2 = 0.9
  config.optim.d_steps = 5
  config.optim.lr_decay = "linear"
  config.optim.decay_start = 0

  config.ema.decay = 0.9999
  config.ema.start_step = 1_000

  config.checkpoint.every_steps = 5_000
  config.log_every_steps = 100
  config.sample_every_steps = 5_000
  config.layout_every_steps = 5_000
  return config
