"""StudioGAN's CIFAR10 BigGAN-DiffAug-LeCam: `src/configs/CIFAR10/BigGAN-DiffAug-LeCam.yaml`.

`src/configs/CIFAR10/BigGAN.yaml` (BigGAN at 32x32: z_dim 80, shared embedding 128, G and D
at ch 96, attention at 16x16, EMA from step 1K; `src/config.py`'s batch 64, 2e-4, Adam
(0.5, 0.999), 5 D steps; 200K steps; random flips) with DiffAugment (color, translation,
cutout) of every image D sees and LeCam (weight 0.3, anchors' decay 0.99 from step 1K).
"""

import ml_collections

from configs import base
from configs.studiogan import recipes


def get_config() -> ml_collections.ConfigDict:
  config = recipes.cifar10_biggan(base.get_config())
  config.augment.diffaug_policy = "color,translation,cutout"
  config.loss.lecam_lambda = 0.3
  config.loss.lecam_ema_decay = 0.99
  config.loss.lecam_ema_start_iter = 1_000
  return config
