"""Paris StreetView 256x256 with Attentive Normalization: the paper's setting (section 4),
the base config (`configs/inpainting/base.py`)."""

import ml_collections

from configs.inpainting import base


def get_config() -> ml_collections.ConfigDict:
  return base.get_config()
