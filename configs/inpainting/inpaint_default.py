"""Default inpainting config: a small AN inpainter on the embedded facades, CPU-sized.

Trains on a 2-core CPU in under ten minutes (compile, pictures and checkpoints
included) and leaves pictures before and after training under `<workdir>/pictures/`.
"""

import ml_collections

from configs.inpainting import base


def get_config() -> ml_collections.ConfigDict:
  config = base.get_config()
  config.batch_size = 8
  config.num_train_steps = 300
  config.dataset.name = "procedural_facades"
  config.dataset.image_size = 64
  config.dataset.cache = True
  config.dataset.shuffle_buffer = 4000
  config.model.width = 16  # the paper's 32
  config.model.critic_width = 16  # the paper's 64
  config.optim.lr = 2e-4  # the paper's 1e-5: raised for a short run
  config.optim.critic_steps = 1  # the paper's 5
  config.loss.id_mrf_weight = 0.0  # the paper's 0.05 needs the VGG19 weights
  config.checkpoint.every_steps = 100
  config.checkpoint.keep = 2
  config.log_every_steps = 25
  config.picture_every_steps = 100
  config.eval.batch_size = 8
  config.eval.num_examples = 200
  return config
