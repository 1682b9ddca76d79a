"""StudioGAN's CIFAR10 SAGAN: `src/configs/CIFAR10/SAGAN.yaml` over `src/config.py`.

`studiogan/cifar10_sngan` with spectral norm in G and self-attention after G's 16x16
block (`attn_g_loc: [2]`) and after D's first block (`attn_d_loc: [1]`, 16x16).
"""

import ml_collections

from configs import default
from configs.studiogan import cifar10_sngan


def get_config() -> ml_collections.ConfigDict:
  config = cifar10_sngan.get_config()
  config.model.g_spectral_norm = True
  config.model.g_nonlocal = default.nonlocal_config("self_attention", (16,))
  config.model.d_nonlocal = default.nonlocal_config("self_attention", (16,))
  return config
