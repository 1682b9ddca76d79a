"""SA-GAN on ImageNet 128x128 (Zhang et al., 2019).

SN in G and D, self-attention at 32x32 in G and D, hinge loss, TTUR
(G 1e-4, D 4e-4), Adam (0, 0.9), one D step per G step, batch 256,
1M steps, EMA of G.
"""

import ml_collections

from configs import default
from configs import imagenet128_sngan


def get_config() -> ml_collections.ConfigDict:
  config = imagenet128_sngan.get_config()
  config.batch_size = 256
  config.num_train_steps = 1_000_000

  config.model.g_spectral_norm = True
  config.model.g_nonlocal = default.nonlocal_config("self_attention", (32,))
  config.model.d_nonlocal = default.nonlocal_config("self_attention", (32,))

  config.optim.g_lr = 1e-4
  config.optim.d_lr = 4e-4
  config.optim.b1 = 0.0
  config.optim.b2 = 0.9
  config.optim.d_steps = 1
  config.optim.lr_decay = "none"
  config.optim.decay_start = 0

  config.ema.decay = 0.9999
  config.ema.start_step = 20_000
  return config
