"""StudioGAN's Baby-ImageNet SNGAN (64x64, 100 classes): `src/configs/Baby_ImageNet/SNGAN.yaml`.

`studiogan/imagenet128_sngan`'s layers at 64x64: G 1024 channels at 4x4 through four
up-blocks to 64, D 64 -> 1024 channels down to 4x4; Adam (0, 0.999, eps 1e-6),
G 1e-4 / D 4e-4, 1 D step, batch 256, 100K steps (`src/config.py`'s default), no EMA.
Data: StudioGAN's Baby ImageNet folder (`<data_dir>/train/<class>/*`; Papa and Grandpa
ImageNet have the same layout and configs): `--config.dataset.data_dir=DIR`.
"""

import ml_collections

from configs import base
from configs.studiogan import recipes


def get_config() -> ml_collections.ConfigDict:
  return recipes.baby_imagenet64(base.get_config())
