"""`imagenet128_an` with bfloat16 compute (float32 params and statistics), for TPU."""

import ml_collections

from configs import base


def get_config() -> ml_collections.ConfigDict:
  config = base.get_config()
  config.model.dtype = "bfloat16"
  return config
