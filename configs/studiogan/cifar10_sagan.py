"""StudioGAN's CIFAR10 SAGAN: `src/configs/CIFAR10/SAGAN.yaml` over `src/config.py`.

`studiogan/cifar10_sngan` with spectral norm in G and self-attention after G's 16x16
block (`attn_g_loc: [2]`) and after D's first block (`attn_d_loc: [1]`, 16x16).
"""

import ml_collections

from configs import base
from configs.studiogan import recipes


def get_config() -> ml_collections.ConfigDict:
  return recipes.sagan(recipes.cifar10(base.get_config()), 16)
