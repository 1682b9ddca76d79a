"""Class-conditional GAN models (SN-GAN / SA-GAN / AN ResNets, BigGAN) and `build_models`,
the inpainting networks, the registry of non-local modules both place (`non_local`), and
their helpers."""

from typing import Any

import jax
import jax.numpy as jnp

from an_flax.models.blocks import DownBlock, NonLocal, UpBlock
from an_flax.models.build import build_models
from an_flax.models.layer_options import LayerOptions
from an_flax.models.resnet_gan import Discriminator, Generator


def sum_sown_losses(collection: Any) -> jax.Array:
  """Sum of every 'orthogonal' penalty sown in `collection` (float32 scalar).

  Accepts the 'losses' collection or a whole mutated-variables dict; leaves
  under any other name are ignored. Returns 0 when nothing was sown (e.g. no
  AN module, or an apply without mutable=['losses']).
  """
  leaves = jax.tree_util.tree_leaves_with_path(collection)
  total = jnp.zeros((), jnp.float32)
  for path, leaf in leaves:
    if any(getattr(key, "key", None) == "orthogonal" for key in path):
      total = total + jnp.sum(jnp.asarray(leaf, jnp.float32))
  return total


__all__ = [
    "Discriminator", "DownBlock", "Generator", "LayerOptions", "NonLocal", "UpBlock",
    "build_models", "sum_sown_losses",
]
