"""Paris StreetView 256x256 with Attentive Normalization: the paper's setting (section 4).

Data: an image folder `<data_dir>/train/<any>/*.png` and `<data_dir>/test/<any>/*.png`
(e.g. the 14,900 training and 100 test pictures of Paris StreetView, resized to 256).
Set `--config.dataset.data_dir=...` and `--config.loss.vgg19_weights=vgg19.npz`.
"""

import ml_collections

from configs.inpainting import inpaint_default


def get_config() -> ml_collections.ConfigDict:
  config = inpaint_default.get_config()
  config.batch_size = 16
  config.num_train_steps = 400_000
  config.dataset.name = "image_folder"
  config.dataset.image_size = 256
  config.dataset.cache = False
  config.dataset.shuffle_buffer = 15_000
  config.model.width = 32
  config.model.critic_width = 64
  config.model.non_local = "attentive_norm"  # n = 16 on the 64x64x128 map
  config.optim.lr = 1e-5
  config.optim.critic_steps = 5
  config.loss.id_mrf_weight = 0.05
  config.checkpoint.every_steps = 5000
  config.checkpoint.keep = 3
  config.log_every_steps = 100
  config.picture_every_steps = 5000
  config.eval.batch_size = 16
  config.eval.num_examples = 0
  return config
