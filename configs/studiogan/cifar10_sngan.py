"""StudioGAN's CIFAR10 SNGAN: `src/configs/CIFAR10/SNGAN.yaml` over `src/config.py`.

`studiogan/imagenet128_sngan`'s layers on CIFAR-10 with `src/config.py`'s optimiser
defaults, which the YAML keeps: Adam (0.5, 0.999, eps 1e-6), 2e-4 for G and D, 5 D steps
per G step, batch 64, 100K steps, no EMA. G: `g_conv_dim` 64, 256 channels through three
up-blocks; D: 128 channels, downsampling 32 -> 16 -> 8, then two blocks at 8.
"""

import ml_collections

from configs import cifar10_sngan
from configs.studiogan import imagenet128_sngan


def get_config() -> ml_collections.ConfigDict:
  config = imagenet128_sngan.studiogan_layers(cifar10_sngan.get_config())
  config.batch_size = 64
  config.num_train_steps = 100_000
  config.model.g_ch = 64
  config.model.d_ch = 64
  config.model.g_multipliers = (4, 4, 4, 4)
  config.model.d_multipliers = (2, 2, 2, 2)
  config.optim.g_lr = 2e-4
  config.optim.d_lr = 2e-4
  config.optim.b1 = 0.5
  config.optim.d_steps = 5
  return config
