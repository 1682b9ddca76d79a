"""CIFAR-10 SN-GAN setting with Attentive Normalization at 16x16 in G and D."""

import ml_collections

from configs import cifar10_sngan
from configs import default


def get_config() -> ml_collections.ConfigDict:
  config = cifar10_sngan.get_config()
  config.model.g_nonlocal = default.nonlocal_config("attentive_norm", (16,))
  config.model.d_nonlocal = default.nonlocal_config("attentive_norm", (16,))
  return config
