"""StudioGAN's ImageNet-128 SAGAN: `src/configs/ImageNet/SAGAN-256.yaml` over `src/config.py`.

`studiogan/imagenet128_sngan` with spectral norm in G (its conditional-BN projections
included), self-attention after G's 64x64 block (`attn_g_loc: [4]`, 128 channels) and
after D's first block (`attn_d_loc: [1]`, 64x64), G 1e-4 / D 4e-4, 1 D step, 1M steps.
"""

import ml_collections

from configs import default
from configs.studiogan import imagenet128_sngan


def get_config() -> ml_collections.ConfigDict:
  config = imagenet128_sngan.get_config()
  config.num_train_steps = 1_000_000
  config.model.g_spectral_norm = True
  config.model.g_nonlocal = default.nonlocal_config("self_attention", (64,))
  config.model.d_nonlocal = default.nonlocal_config("self_attention", (64,))
  config.optim.g_lr = 1e-4
  config.optim.d_lr = 4e-4
  config.optim.d_steps = 1
  return config
