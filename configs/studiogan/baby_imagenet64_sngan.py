"""StudioGAN's Baby-ImageNet SNGAN (64x64, 100 classes): `src/configs/Baby_ImageNet/SNGAN.yaml`.

`studiogan/imagenet128_sngan`'s layers at 64x64: G 1024 channels at 4x4 through four
up-blocks to 64, D 64 -> 1024 channels down to 4x4; Adam (0, 0.999, eps 1e-6),
G 1e-4 / D 4e-4, 1 D step, batch 256, 100K steps (`src/config.py`'s default), no EMA.
Data: StudioGAN's Baby ImageNet folder (`<data_dir>/train/<class>/*`; Papa and Grandpa
ImageNet have the same layout and configs): `--config.dataset.data_dir=DIR`.
"""

import ml_collections

from configs.studiogan import imagenet128_sngan


def get_config() -> ml_collections.ConfigDict:
  config = imagenet128_sngan.get_config()
  config.num_train_steps = 100_000
  config.dataset.name = "image_folder"
  config.dataset.prepared = ""  # Read on the fly; set a directory to prepare it (docs/data.md).
  config.dataset.image_size = 64
  config.model.resolution = 64
  config.model.num_classes = 100
  config.model.g_multipliers = (16, 8, 4, 2, 1)
  config.model.d_multipliers = (1, 2, 4, 8, 16)
  config.optim.g_lr = 1e-4
  config.optim.d_lr = 4e-4
  config.optim.d_steps = 1
  return config
