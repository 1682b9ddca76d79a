"""CelebA-HQ 256x256 with Attentive Normalization (an option of the released code).

Data: an image folder `<data_dir>/train/<any>/*` and `<data_dir>/test/<any>/*` of
CelebA-HQ faces (e.g. 28,000 / 2,000). Centre crop + resize to 256.
"""

import ml_collections

from configs.inpainting import base


def get_config() -> ml_collections.ConfigDict:
  config = base.get_config()
  config.dataset.shuffle_buffer = 28_000
  config.eval.num_examples = 2000
  return config
