"""Paris StreetView with SA-GAN self-attention in the refinement's non-local branch."""

import ml_collections

from configs.inpainting import base


def get_config() -> ml_collections.ConfigDict:
  config = base.get_config()
  config.model.non_local = "self_attention"
  return config
