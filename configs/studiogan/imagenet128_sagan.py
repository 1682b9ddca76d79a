"""StudioGAN's ImageNet-128 SAGAN: `src/configs/ImageNet/SAGAN-256.yaml` over `src/config.py`.

`studiogan/imagenet128_sngan` with spectral norm in G (its conditional-BN projections
included), self-attention after G's 64x64 block (`attn_g_loc: [4]`, 128 channels) and
after D's first block (`attn_d_loc: [1]`, 64x64), G 1e-4 / D 4e-4, 1 D step, 1M steps.
"""

import ml_collections

from configs import base
from configs.studiogan import recipes


def get_config() -> ml_collections.ConfigDict:
  config = recipes.sagan(recipes.imagenet128(base.get_config()), 64)
  config.num_train_steps = 1_000_000
  config.optim.g_lr = 1e-4
  config.optim.d_lr = 4e-4
  config.optim.d_steps = 1
  return config
