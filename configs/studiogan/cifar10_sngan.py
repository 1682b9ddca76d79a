"""StudioGAN's CIFAR10 SNGAN: `src/configs/CIFAR10/SNGAN.yaml` over `src/config.py`.

`studiogan/imagenet128_sngan`'s layers on CIFAR-10 with `src/config.py`'s optimiser
defaults, which the YAML keeps: Adam (0.5, 0.999, eps 1e-6), 2e-4 for G and D, 5 D steps
per G step, batch 64, 100K steps, no EMA. G: `g_conv_dim` 64, 256 channels through three
up-blocks; D: 128 channels, downsampling 32 -> 16 -> 8, then two blocks at 8.
"""

import ml_collections

from configs import base
from configs.studiogan import recipes


def get_config() -> ml_collections.ConfigDict:
  return recipes.cifar10(base.get_config())
