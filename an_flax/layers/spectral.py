"""Spectrally normalised layers built on `flax.linen.SpectralNorm`.

The power-iteration state (`u`, `sigma`) lives in its own collection,
`SPECTRAL_COLLECTION`, so it never mixes with BatchNorm statistics and can be
averaged (EMA) or frozen independently.
"""

from typing import Any, Sequence

import flax.linen as nn
import jax.numpy as jnp

SPECTRAL_COLLECTION = "spectral"
# BigGAN-PyTorch / StudioGAN use 1e-6; Flax's default is 1e-12.
SPECTRAL_EPSILON = 1e-6


def _maybe_spectral(layer: nn.Module, enabled: bool, x: Any, train: bool) -> jnp.ndarray:
  if not enabled:
    return layer(x)
  return nn.SpectralNorm(
      layer, epsilon=SPECTRAL_EPSILON, collection_name=SPECTRAL_COLLECTION
  )(x, update_stats=train)


class SNConv(nn.Module):
  """Convolution whose kernel is divided by its largest singular value.

  `spectral=False` gives the plain convolution with the same parameter layout,
  so a generator can switch spectral norm on or off by configuration.
  """

  features: int
  kernel_size: Sequence[int] = (3, 3)
  strides: Sequence[int] = (1, 1)
  padding: Any = "SAME"
  kernel_dilation: Sequence[int] = (1, 1)
  use_bias: bool = True
  spectral: bool = True
  kernel_init: Any = nn.initializers.xavier_uniform()
  dtype: Any = None
  param_dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x: jnp.ndarray, train: bool = False) -> jnp.ndarray:
    conv = nn.Conv(
        self.features,
        tuple(self.kernel_size),
        strides=tuple(self.strides),
        padding=self.padding,
        kernel_dilation=tuple(self.kernel_dilation),
        use_bias=self.use_bias,
        kernel_init=self.kernel_init,
        dtype=self.dtype,
        param_dtype=self.param_dtype,
        name="conv",
    )
    return _maybe_spectral(conv, self.spectral, x, train)


class SNDense(nn.Module):
  """Dense layer with optional spectral normalisation of its kernel."""

  features: int
  use_bias: bool = True
  spectral: bool = True
  kernel_init: Any = nn.initializers.xavier_uniform()
  dtype: Any = None
  param_dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x: jnp.ndarray, train: bool = False) -> jnp.ndarray:
    dense = nn.Dense(
        self.features,
        use_bias=self.use_bias,
        kernel_init=self.kernel_init,
        dtype=self.dtype,
        param_dtype=self.param_dtype,
        name="dense",
    )
    return _maybe_spectral(dense, self.spectral, x, train)


class SNEmbed(nn.Module):
  """Class embedding with optional spectral normalisation of its table.

  Used for the projection term of the discriminator, as in SN-GAN/SA-GAN.
  """

  num_embeddings: int
  features: int
  spectral: bool = True
  embedding_init: Any = nn.initializers.xavier_uniform()
  dtype: Any = None
  param_dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, labels: jnp.ndarray, train: bool = False) -> jnp.ndarray:
    embed = nn.Embed(
        self.num_embeddings,
        self.features,
        embedding_init=self.embedding_init,
        dtype=self.dtype,
        param_dtype=self.param_dtype,
        name="embed",
    )
    return _maybe_spectral(embed, self.spectral, labels, train)
