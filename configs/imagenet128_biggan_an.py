"""BigGAN-AN on ImageNet 128x128: StudioGAN's BigGAN with Attentive Normalization in place of
its self-attention.

`studiogan/imagenet128_biggan` (StudioGAN's ImageNet BigGAN-256 recipe and layers) with AN
(the layer's defaults, `config.model.an`) after G's 64x64 block and after D's first block
(64x64), where the attention was: the comparison the paper makes for SA-GAN, made for
BigGAN. `benchmarks/biggan_cost.py` measures both networks' compiled step.
"""

import ml_collections

from configs import base
from configs.studiogan import recipes


def get_config() -> ml_collections.ConfigDict:
  config = recipes.imagenet128_biggan(base.get_config())
  config.model.g_nonlocal = base.non_local("attentive_norm", (64,))
  config.model.d_nonlocal = base.non_local("attentive_norm", (64,))
  return config
