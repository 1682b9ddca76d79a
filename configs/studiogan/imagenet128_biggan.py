"""StudioGAN's ImageNet-128 BigGAN: `src/configs/ImageNet/BigGAN-256.yaml` over `src/config.py`.

BigGAN (`big_resnet`: shared class embedding of 128, hierarchical z of 120 in chunks of 20,
spectral norm in G and D, G and D at ch 96) with self-attention after G's 64x64 block and
D's first block (64x64), hinge loss, Adam (0, 0.999, eps 1e-6), G 5e-5 / D 2e-4, 2 D steps
per G step, batch 256, 200K steps, EMA of G (0.9999 from step 20K), random flips, and
StudioGAN's layers, so its `model=G_ema-...pth` converts into this config
(`python -m an_flax.convert.biggan`). StudioGAN's BigGAN-2048.yaml is this with
`--config.batch_size=512 --config.optim.accumulation_steps=4`.
"""

import ml_collections

from configs import base
from configs.studiogan import recipes


def get_config() -> ml_collections.ConfigDict:
  return recipes.imagenet128_biggan(base.get_config())
