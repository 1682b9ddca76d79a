"""StudioGAN's Baby-ImageNet SAGAN (64x64, 100 classes): `src/configs/Baby_ImageNet/SAGAN.yaml`.

`studiogan/baby_imagenet64_sngan` with spectral norm in G and self-attention after G's
32x32 block (`attn_g_loc: [3]`, 128 channels) and after D's first block
(`attn_d_loc: [1]`, 32x32).
"""

import ml_collections

from configs import base
from configs.studiogan import recipes


def get_config() -> ml_collections.ConfigDict:
  return recipes.sagan(recipes.baby_imagenet64(base.get_config()), 32)
