"""Paris StreetView baseline: the non-local branch's convolutions without a non-local module."""

import ml_collections

from configs.inpainting import base


def get_config() -> ml_collections.ConfigDict:
  config = base.get_config()
  config.model.non_local = "none"
  return config
