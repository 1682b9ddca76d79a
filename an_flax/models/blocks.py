"""Residual blocks of the SN-GAN / SA-GAN ResNets and their non-local modules.

One parametrised class per block kind: `UpBlock` (generator) and `DownBlock`
(discriminator, including SN-GAN's "optimized" first block). A `NonLocal`
value says which non-local module a network uses and where; the networks ask
it whether a module goes after a block or inside it, and it builds the module.

A `LayerOptions` value says how the layers themselves are built: by default this
project's (every conv / dense / embedding xavier_uniform, as the PyTorch SN-GAN and SA-GAN
ports do; Flax's spectral norm; BatchNorm eps 1e-5; conditional-BN gain and bias tables
starting at 1 and 0), or StudioGAN's (orthogonal init, torch's spectral norm, eps 1e-4,
gamma = 1 + W_gain y), so that its checkpoints load as they are (configs/studiogan).
"""

import dataclasses
from typing import Any, Optional, Tuple

import flax.linen as nn
import jax
import jax.numpy as jnp

from an_flax.layers import (
    AttentiveNorm, ConditionalBatchNorm, SelfAttention, SNConv, SNDense, SNEmbed)
from an_flax.layers.resampling import avg_pool, upsample_nearest

NONLOCAL_KINDS = ("none", "self_attention", "attentive_norm")
INITS = {"xavier_uniform": nn.initializers.xavier_uniform(),
         "orthogonal": nn.initializers.orthogonal()}


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
class LayerOptions:
  """How every conv, dense, embedding and BatchNorm of both networks is built.

  spectral_form: 'flax' or 'torch' (see `an_flax.layers.spectral`).
  init: kernel / embedding initialiser of every conv, dense and embedding (not of AN's
    own projections), a key of `INITS`; biases start at 0.
  bn_epsilon: epsilon of G's BatchNorms (conditional and final).
  cbn_form: 'table' or 'one_plus' (see `an_flax.layers.ConditionalBatchNorm`).
  """

  spectral_form: str = "flax"
  init: str = "xavier_uniform"
  bn_epsilon: float = 1e-5
  cbn_form: str = "table"

  def conv(self, features: int, kernel: int, spectral: bool, dtype: Any, name: str,
           resample: str | None = None) -> SNConv:
    return SNConv(features, (kernel, kernel), spectral=spectral,
                  spectral_form=self.spectral_form, kernel_init=INITS[self.init],
                  resample=resample, dtype=dtype, name=name)

  def dense(self, features: int, spectral: bool, dtype: Any, name: str) -> SNDense:
    return SNDense(features, spectral=spectral, spectral_form=self.spectral_form,
                   kernel_init=INITS[self.init], dtype=dtype, name=name)

  def embed(self, num_classes: int, features: int, dtype: Any, name: str) -> SNEmbed:
    return SNEmbed(num_classes, features, spectral_form=self.spectral_form,
                   embedding_init=INITS[self.init], dtype=dtype, name=name)

  def conditional_bn(self, num_classes: int, spectral: bool, dtype: Any, name: str
                     ) -> ConditionalBatchNorm:
    return ConditionalBatchNorm(
        num_classes, epsilon=self.bn_epsilon, form=self.cbn_form, spectral=spectral,
        spectral_form=self.spectral_form, kernel_init=INITS[self.init], dtype=dtype,
        name=name)

  def batch_norm(self, train: bool, dtype: Any, name: str) -> nn.BatchNorm:
    return nn.BatchNorm(use_running_average=not train, momentum=0.9, epsilon=self.bn_epsilon,
                        dtype=dtype, force_float32_reductions=True, name=name)

  def self_attention(self, spectral: bool, dtype: Any, name: str) -> SelfAttention:
    return SelfAttention(spectral=spectral, spectral_form=self.spectral_form,
                         kernel_init=INITS[self.init], dtype=dtype, name=name)


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

  def module(self, spectral: bool, dtype: Any, name: str,
             layers: LayerOptions = LayerOptions()) -> nn.Module:
    """The module, called as `module(x, train)`; AN ignores `spectral` and `layers`."""
    if self.kind == "self_attention":
      return layers.self_attention(spectral, dtype, name)
    if self.kind == "attentive_norm":
      return AttentiveNorm(**dataclasses.asdict(self.an), dtype=dtype, name=name)
    raise ValueError(f"No non-local module of kind {self.kind!r}.")


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
