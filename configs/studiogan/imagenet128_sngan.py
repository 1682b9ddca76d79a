"""StudioGAN's ImageNet-128 SNGAN: `src/configs/ImageNet/SNGAN-256.yaml` over `src/config.py`.

Our `imagenet128_sngan` (the paper's setting) with StudioGAN's layers and recipe, so a
`model=G-best-weights-step=N.pth` of that run converts into this config
(`python -m an_flax.convert.studiogan`) and a run of this config is that run in JAX: G
without spectral norm, projection D, hinge loss, Adam (0, 0.999, eps 1e-6), G 5e-5 /
D 2e-4, 2 D steps per G step, batch 256, 500K steps, no EMA of G, orthogonal init,
BatchNorm eps 1e-4, gamma = 1 + W_gain y, torch's spectral norm, D shortcuts reading
ReLU(x). docs/studiogan.md has the table of what differs from `imagenet128_sngan` and why.
"""

import ml_collections

from configs import base
from configs.studiogan import recipes


def get_config() -> ml_collections.ConfigDict:
  return recipes.imagenet128(base.get_config())
