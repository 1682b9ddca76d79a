"""Model configs for the tests: the `config.model` schema of build_models."""

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from an_flax.models import non_local

AN_DEFAULTS = non_local.default_options()["an"]


def nonlocal_config(kind: str = "none", resolutions: tuple = (), inside_blocks: bool = False
                    ) -> ml_collections.ConfigDict:
  return ml_collections.ConfigDict(
      dict(kind=kind, resolutions=tuple(resolutions), inside_blocks=inside_blocks))


def model_config(resolution: int = 32, ch: int = 8, g_multipliers: tuple = (4, 2, 2, 1),
                 d_multipliers: tuple = (1, 2, 2, 2), num_classes: int = 10, z_dim: int = 16,
                 g_spectral_norm: bool = True, g_nonlocal=None, d_nonlocal=None,
                 dtype: str = "float32", **an) -> ml_collections.ConfigDict:
  """A tiny model by default (32x32, width 8, 10 classes)."""
  return ml_collections.ConfigDict(dict(
      resolution=resolution, num_classes=num_classes, z_dim=z_dim, g_ch=ch, d_ch=ch,
      g_multipliers=tuple(g_multipliers), d_multipliers=tuple(d_multipliers),
      g_spectral_norm=g_spectral_norm,
      g_nonlocal=g_nonlocal or nonlocal_config(), d_nonlocal=d_nonlocal or nonlocal_config(),
      an={**AN_DEFAULTS, **an}, dtype=dtype))


def imagenet128_config(kind: str = "none", g_spectral_norm: bool = True
                       ) -> ml_collections.ConfigDict:
  """Full-size SN-GAN / SA-GAN / AN ImageNet 128 (non-local module at 32x32)."""
  return model_config(
      resolution=128, ch=64, g_multipliers=(16, 16, 8, 4, 2, 1),
      d_multipliers=(1, 2, 4, 8, 16, 16), num_classes=1000, z_dim=128,
      g_spectral_norm=g_spectral_norm, g_nonlocal=nonlocal_config(kind, (32,)),
      d_nonlocal=nonlocal_config(kind, (32,)))


def cifar10_sngan_config() -> ml_collections.ConfigDict:
  cfg = model_config(resolution=32, g_multipliers=(1, 1, 1, 1), d_multipliers=(1, 1, 1, 1),
                     z_dim=128, g_spectral_norm=False)
  cfg.g_ch, cfg.d_ch = 256, 128
  return cfg


def count(tree) -> int:
  return int(sum(np.prod(leaf.shape) for leaf in jax.tree_util.tree_leaves(tree)))


def abstract_variables(generator, discriminator, cfg, batch: int = 2):
  """Variable shapes of G and D via jax.eval_shape: no full-size compute."""
  z = jax.ShapeDtypeStruct((batch, cfg.z_dim), jnp.float32)
  labels = jax.ShapeDtypeStruct((batch,), jnp.int32)
  images = jax.ShapeDtypeStruct((batch, cfg.resolution, cfg.resolution, 3), jnp.float32)
  rngs = {"params": jax.random.key(0), "sampling": jax.random.key(1)}
  g_vars = jax.eval_shape(lambda z, y: generator.init(rngs, z, y, train=False), z, labels)
  d_vars = jax.eval_shape(lambda x, y: discriminator.init(rngs, x, y, train=False),
                          images, labels)
  return g_vars, d_vars
