"""SA-GAN on ImageNet 128x128 (Zhang et al., 2019).

SN in G and D, self-attention at 32x32 in G and D, hinge loss, TTUR
(G 1e-4, D 4e-4), Adam (0, 0.9), one D step per G step, batch 256,
1M steps, EMA of G: the base config with self-attention in place of AN.
"""

import ml_collections

from configs import base


def get_config() -> ml_collections.ConfigDict:
  config = base.get_config()
  config.model.g_nonlocal = base.non_local("self_attention", (32,))
  config.model.d_nonlocal = base.non_local("self_attention", (32,))
  return config
