"""Paris StreetView baseline: the non-local branch's convolutions without a non-local module."""

import ml_collections

from configs.inpainting import paris_streetview_an


def get_config() -> ml_collections.ConfigDict:
  config = paris_streetview_an.get_config()
  config.model.non_local = "none"
  return config
