"""AN-GAN on ImageNet 128x128: SA-GAN with Attentive Normalization at 32x32 (the base
config, `configs/base.py`, which says why)."""

import ml_collections

from configs import base


def get_config() -> ml_collections.ConfigDict:
  return base.get_config()
