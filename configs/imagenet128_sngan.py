"""SN-GAN-projection on ImageNet 128x128 (Miyato & Koyama, 2018).

No spectral norm in G, projection D with SN, hinge loss, Adam 2e-4 (0, 0.9),
5 D steps per G step, batch 64, 850K G steps, no non-local layers.
"""

import ml_collections

from configs import base


def get_config() -> ml_collections.ConfigDict:
  return base.sngan_recipe(base.get_config())
