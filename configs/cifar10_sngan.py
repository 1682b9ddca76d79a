"""SN-GAN (projection D) on CIFAR-10: the standard 32x32 ResNet setting.

The optimiser, losses and D of `imagenet128_sngan` (hinge loss, Adam 2e-4 (0, 0.9),
5 D steps per G step, batch 64, no SN in G, no non-local layers) on 32x32 images:
G ch 256 with three up-blocks 4 -> 8 -> 16 -> 32, D ch 128, a shorter schedule.
"""

import ml_collections

from configs import base


def get_config() -> ml_collections.ConfigDict:
  return base.cifar10(base.sngan_recipe(base.get_config()))
