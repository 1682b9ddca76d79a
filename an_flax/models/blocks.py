"""Residual blocks of the SN-GAN / SA-GAN ResNets and where their non-local module sits.

One parametrised class per block kind: `UpBlock` (generator) and `DownBlock`
(discriminator, including SN-GAN's "optimized" first block). A `NonLocal`
value says which non-local module a network uses and where; the networks ask
it whether a module goes after a block or inside it, and it builds the module
from the registry (`an_flax.models.non_local`). How the layers themselves are built
is a `LayerOptions` value (`an_flax.models.layer_options`).
"""

import dataclasses
from typing import Any, Optional, Tuple

import flax.linen as nn
import jax
import jax.numpy as jnp

from an_flax.layers.resampling import avg_pool, upsample_nearest
from an_flax.models import non_local
from an_flax.models.layer_options import LayerOptions


@dataclasses.dataclass(frozen=True)
class NonLocal:
  """Which non-local module a network uses (a kind of `non_local.KINDS`), and where.

  `inside_blocks=False` (SA-GAN style): the module follows the residual block
  whose OUTPUT has a listed resolution. `inside_blocks=True` (kinds that allow it, such
  as AN: the authors' "between a convolution and its activation"): the module
  sits inside the residual block whose CONVOLUTIONS run at a listed
  resolution, right after its first 3x3 conv. Either way the module sees
  feature maps of the listed size.
  """

  kind: str = non_local.NONE
  resolutions: Tuple[int, ...] = ()
  inside_blocks: bool = False
  options: non_local.Options = non_local.Options({})

  def after_block(self, resolution: int) -> bool:
    return (self.kind != non_local.NONE and not self.inside_blocks
            and resolution in self.resolutions)

  def in_block(self, resolution: int) -> bool:
    return self.kind != non_local.NONE and self.inside_blocks and resolution in self.resolutions

  def module(self, spectral: bool, dtype: Any, name: str,
             layers: LayerOptions = LayerOptions()) -> nn.Module:
    """The module, called as `module(x, train)`."""
    return non_local.build(self.kind, self.options, spectral, dtype, name, layers)


class UpBlock(nn.Module):
  """Generator block: CBN-ReLU-up-conv3x3-[inner]-CBN-ReLU-conv3x3 + up-conv1x1.

  `inner` (a NonLocal placed inside this block) puts its module between the
  first conv and the second CBN, i.e. conv3x3 -> AN -> CBN -> ReLU. The same function
  at less cost: the first conv is computed at the input's resolution
  (`an_flax.layers.resampling`), and the shortcut's 1x1 conv runs before the upsampling,
  with which it commutes.
  """

  features: int
  num_classes: int
  spectral: bool
  inner: Optional[NonLocal] = None
  layers: LayerOptions = LayerOptions()
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array, labels: jax.Array, train: bool) -> jax.Array:
    conv = lambda kernel, name, resample=None: self.layers.conv(
        self.features, kernel, self.spectral, self.dtype, name, resample)
    cbn = lambda name: self.layers.conditional_bn(
        self.num_classes, self.spectral, self.dtype, name)
    h = nn.relu(cbn("bn1")(x, labels, train))
    h = conv(3, "conv1", resample="up")(h, train)
    if self.inner is not None:
      h = self.inner.module(self.spectral, self.dtype, "nonlocal", self.layers)(h, train)
    h = nn.relu(cbn("bn2")(h, labels, train))
    h = conv(3, "conv2")(h, train)
    return h + upsample_nearest(conv(1, "shortcut")(x, train))


class DownBlock(nn.Module):
  """Discriminator block: [ReLU]-conv3x3-[inner]-ReLU-conv3x3-[avgpool] + shortcut.

  `preactivation=False` is SN-GAN's optimized first block (no leading ReLU,
  shortcut avgpool -> conv1x1). Otherwise the shortcut is conv1x1 -> avgpool,
  learnable only when the width changes or the block downsamples; both are linear,
  so it is computed as avgpool -> conv1x1 at a quarter of the work; it reads the
  block's input, or with `activated_shortcut` its ReLU (StudioGAN's D, whose
  in-place ReLU overwrites the input). `inner` puts its module between the first
  conv and its ReLU. The second conv and its pooling run fused, at the output's
  resolution (`an_flax.layers.resampling`). Spectral norm always.
  """

  features: int
  preactivation: bool = True
  downsample: bool = True
  activated_shortcut: bool = False
  inner: Optional[NonLocal] = None
  layers: LayerOptions = LayerOptions()
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array, train: bool) -> jax.Array:
    conv = lambda kernel, name, resample=None: self.layers.conv(
        self.features, kernel, True, self.dtype, name, resample)
    pool = avg_pool if self.downsample else (lambda t: t)
    h = nn.relu(x) if self.preactivation else x
    if self.preactivation and self.activated_shortcut:
      x = h
    h = conv(3, "conv1")(h, train)
    if self.inner is not None:
      h = self.inner.module(True, self.dtype, "nonlocal", self.layers)(h, train)
    h = conv(3, "conv2", resample="down" if self.downsample else None)(nn.relu(h), train)
    if not self.preactivation or self.downsample or x.shape[-1] != self.features:
      shortcut = conv(1, "shortcut")(pool(x), train)
    else:
      shortcut = x
    return h + shortcut
