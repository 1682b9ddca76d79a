"""Paris StreetView with SA-GAN self-attention in the refinement's non-local branch."""

import ml_collections

from configs.inpainting import paris_streetview_an


def get_config() -> ml_collections.ConfigDict:
  config = paris_streetview_an.get_config()
  config.model.non_local = "self_attention"
  return config
