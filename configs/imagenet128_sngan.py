"""SN-GAN-projection on ImageNet 128x128 (Miyato & Koyama, 2018).

No spectral norm in G, projection D with SN, hinge loss, Adam 2e-4 (0, 0.9),
5 D steps per G step, batch 64, 850K G steps, no non-local layers.
"""

import ml_collections

from configs import default


def get_config() -> ml_collections.ConfigDict:
  config = default.get_config()
  config.batch_size = 64
  config.num_train_steps = 850_000

  config.dataset.name = "imagenet2012"
  config.dataset.image_size = 128
  config.dataset.shuffle_buffer = 50_000
  config.dataset.cache = False  # 128x128 ImageNet train is ~63 GB decoded
  # Read the images python -m an_flax.data.prepare made once from the ILSVRC tars: the
  # PyTorch loaders' pixels, globally shuffled (docs/data.md). "": TFDS on the fly.
  config.dataset.prepared = "{data_dir}/an_flax_prepared/{name}_{image_size}_{resizer}"

  config.model.resolution = 128
  config.model.num_classes = 1000
  config.model.z_dim = 128
  config.model.g_ch = 64
  config.model.d_ch = 64
  config.model.g_multipliers = (16, 16, 8, 4, 2, 1)  # 4 -> 8 -> 16 -> 32 -> 64 -> 128
  config.model.d_multipliers = (1, 2, 4, 8, 16, 16)
  config.model.g_spectral_norm = False
  config.model.g_nonlocal = default.nonlocal_config("none")
  config.model.d_nonlocal = default.nonlocal_config("none")

  config.optim.g_lr = 2e-4
  config.optim.d_lr = 2e-4
  config.optim.b1 = 0.0
  config.optim.b2 = 0.9
  config.optim.d_steps = 5
  config.optim.lr_decay = "linear"
  config.optim.decay_start = 400_000

  config.ema.decay = 0.9999
  config.ema.start_step = 20_000

  config.eval.feature_network = "inception"  # the shapes classifier knows only its data
  config.eval.shapes_every_steps = 0

  config.checkpoint.every_steps = 5_000
  config.checkpoint.keep = 3
  config.log_every_steps = 500
  config.sample_every_steps = 10_000
  config.layout_every_steps = 10_000
  return config
