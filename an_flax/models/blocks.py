"""Residual blocks of the SN-GAN / SA-GAN ResNets and their non-local modules.

One parametrised class per block kind: `UpBlock` (generator) and `DownBlock`
(discriminator, including SN-GAN's "optimized" first block). A `NonLocal`
value says which non-local module a network uses and where; the networks ask
it whether a module goes after a block or inside it, and it builds the module.

Weight init: every conv / dense / embedding uses xavier_uniform (the default of
`an_flax.layers.SNConv`/`SNDense`/`SNEmbed`), as the PyTorch SN-GAN and SA-GAN
ports do; conditional-BN gains start at 1 and biases at 0.
"""

import dataclasses
from typing import Any, Optional, Tuple

import flax.linen as nn
import jax
import jax.numpy as jnp

from an_flax.layers import AttentiveNorm, ConditionalBatchNorm, SelfAttention, SNConv

NONLOCAL_KINDS = ("none", "self_attention", "attentive_norm")


@dataclasses.dataclass(frozen=True)
class ANOptions:
  """Hyper-parameters of every AttentiveNorm module of a network."""

  num_entities: int = 16
  kappa: float = 10.0
  key_pool: int = 2
  sampling: str = "per_example"
  affine: bool = False
  eps: float = 1e-5
  orthogonal_form: str = "frobenius"


@dataclasses.dataclass(frozen=True)
class NonLocal:
  """Which non-local module a network uses, and at which resolutions.

  `inside_blocks=False` (SA-GAN style): the module follows the residual block
  whose OUTPUT has a listed resolution. `inside_blocks=True` (attentive_norm
  only; the authors' "between a convolution and its activation"): the module
  sits inside the residual block whose CONVOLUTIONS run at a listed
  resolution, right after its first 3x3 conv. Either way the module sees
  feature maps of the listed size.
  """

  kind: str = "none"
  resolutions: Tuple[int, ...] = ()
  inside_blocks: bool = False
  an: ANOptions = ANOptions()

  def after_block(self, resolution: int) -> bool:
    return self.kind != "none" and not self.inside_blocks and resolution in self.resolutions

  def in_block(self, resolution: int) -> bool:
    return self.kind != "none" and self.inside_blocks and resolution in self.resolutions

  def module(self, spectral: bool, dtype: Any, name: str) -> nn.Module:
    """The module, called as `module(x, train)`; AN ignores `spectral`."""
    if self.kind == "self_attention":
      return SelfAttention(spectral=spectral, dtype=dtype, name=name)
    if self.kind == "attentive_norm":
      return AttentiveNorm(**dataclasses.asdict(self.an), dtype=dtype, name=name)
    raise ValueError(f"No non-local module of kind {self.kind!r}.")


def upsample_nearest(x: jax.Array) -> jax.Array:
  """2x nearest-neighbour upsampling of an NHWC map."""
  return jnp.repeat(jnp.repeat(x, 2, axis=1), 2, axis=2)


def avg_pool(x: jax.Array) -> jax.Array:
  """2x2 average pooling, stride 2."""
  return nn.avg_pool(x, (2, 2), strides=(2, 2))


class UpBlock(nn.Module):
  """Generator block: CBN-ReLU-up-conv3x3-[inner]-CBN-ReLU-conv3x3 + up-conv1x1.

  `inner` (a NonLocal placed inside this block) puts its module between the
  first conv and the second CBN, i.e. conv3x3 -> AN -> CBN -> ReLU.
  """

  features: int
  num_classes: int
  spectral: bool
  inner: Optional[NonLocal] = None
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array, labels: jax.Array, train: bool) -> jax.Array:
    conv = lambda kernel, name: SNConv(
        self.features, (kernel, kernel), spectral=self.spectral, dtype=self.dtype, name=name)
    cbn = lambda name: ConditionalBatchNorm(self.num_classes, dtype=self.dtype, name=name)
    h = nn.relu(cbn("bn1")(x, labels, train))
    h = conv(3, "conv1")(upsample_nearest(h), train)
    if self.inner is not None:
      h = self.inner.module(self.spectral, self.dtype, "nonlocal")(h, train)
    h = nn.relu(cbn("bn2")(h, labels, train))
    h = conv(3, "conv2")(h, train)
    return h + conv(1, "shortcut")(upsample_nearest(x), train)


class DownBlock(nn.Module):
  """Discriminator block: [ReLU]-conv3x3-[inner]-ReLU-conv3x3-[avgpool] + shortcut.

  `preactivation=False` is SN-GAN's optimized first block (no leading ReLU,
  shortcut avgpool -> conv1x1). Otherwise the shortcut is conv1x1 -> avgpool,
  learnable only when the width changes or the block downsamples. `inner`
  puts its module between the first conv and its ReLU. Spectral norm always.
  """

  features: int
  preactivation: bool = True
  downsample: bool = True
  inner: Optional[NonLocal] = None
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array, train: bool) -> jax.Array:
    conv = lambda kernel, name: SNConv(
        self.features, (kernel, kernel), spectral=True, dtype=self.dtype, name=name)
    pool = avg_pool if self.downsample else (lambda t: t)
    h = nn.relu(x) if self.preactivation else x
    h = conv(3, "conv1")(h, train)
    if self.inner is not None:
      h = self.inner.module(True, self.dtype, "nonlocal")(h, train)
    h = pool(conv(3, "conv2")(nn.relu(h), train))
    if not self.preactivation:
      shortcut = conv(1, "shortcut")(pool(x), train)
    elif self.downsample or x.shape[-1] != self.features:
      shortcut = pool(conv(1, "shortcut")(x, train))
    else:
      shortcut = x
    return h + shortcut
