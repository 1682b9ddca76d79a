"""BigGAN (Brock et al., 2019) as StudioGAN's `big_resnet.py` and BigGAN-PyTorch build it.

G: z is split into equal chunks, one per up-block plus one for the 4x4 map (hierarchical
z); the first goes through a dense layer to the 4x4 map, and every up-block's conditional
BatchNorms read [shared class embedding, its own chunk] through bias-free dense layers
(gamma = 1 + W_gain c, beta = W_bias c). Without hierarchical z (BigGAN-PyTorch without
`--hier`) the dense layer reads all of z and the BatchNorms the shared embedding alone.
The class embedding is shared by all blocks and has no spectral norm; every other layer
has it. Self-attention after the 64x64 block.
D: the projection D of SN-GAN / SA-GAN (`an_flax.models.resnet_gan.Discriminator`) at
BigGAN's widths, self-attention after its 64x64 block: StudioGAN's big_resnet D has the
blocks, names and head of its resnet D.

At 128x128, ch 96, 1000 classes and z_dim 120 (chunks of 20, shared embedding 128), the
networks of StudioGAN's ImageNet BigGAN-256 YAML and of BigGAN-PyTorch's
`launch_BigGAN_bs256x8.sh`. The two codebases differ only in what the files cannot show:
BatchNorm eps (StudioGAN 1e-4, BigGAN-PyTorch 1e-5, `STUDIOGAN_LAYERS` /
`BIGGAN_PYTORCH_LAYERS`) and D's shortcut input (StudioGAN's in-place ReLU makes it
ReLU(x): `activated_shortcut`). Call signatures and collections are those of
`an_flax.models.resnet_gan`, so the train step, EMA, standing statistics and evaluation
take these networks as they are. The non-local module is `nonlocal_`'s: self-attention by
default, AN when it says so.
"""

import dataclasses
from typing import Any, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from an_flax.models.blocks import NonLocal, UpBlock
from an_flax.models.layer_options import INITS, LayerOptions
from an_flax.models.resnet_gan import Discriminator

# Orthogonal init, torch's spectral norm, gamma = 1 + W_gain c; BatchNorm eps by codebase.
STUDIOGAN_LAYERS = LayerOptions(spectral_form="torch", init="orthogonal", bn_epsilon=1e-4,
                                cbn_form="one_plus")
BIGGAN_PYTORCH_LAYERS = dataclasses.replace(STUDIOGAN_LAYERS, bn_epsilon=1e-5)
SELF_ATTENTION_64 = NonLocal(kind="self_attention", resolutions=(64,))
# Widths (multiples of ch) at 128x128: G's 4x4 map then its blocks' outputs; D's blocks.
G_MULTIPLIERS = (16, 16, 8, 4, 2, 1)
D_MULTIPLIERS = (1, 2, 4, 8, 16, 16)


class Generator(nn.Module):
  """z (N, z_dim), labels (N,) -> images (N, R, R, 3) in [-1, 1], R = 4 * 2**(blocks).

  Block i outputs resolution 8 * 2**i and ch * multipliers[i+1] channels; with
  `hierarchical` z_dim must be a multiple of len(multipliers) (one chunk for the 4x4 map,
  one per block). Parameter names: 'dense' (first chunk, or z, -> 4x4), 'shared' (class
  embedding), 'block{i}', 'nonlocal{resolution}' (after-block modules),
  'block{i}/nonlocal' (inside-block modules), 'bn', 'conv_out'.
  """

  num_classes: int
  ch: int = 96
  shared_dim: int = 128
  hierarchical: bool = True
  multipliers: Sequence[int] = G_MULTIPLIERS
  nonlocal_: NonLocal = SELF_ATTENTION_64
  layers: LayerOptions = STUDIOGAN_LAYERS
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, z: jax.Array, labels: jax.Array, train: bool = False) -> jax.Array:
    widths = [self.ch * m for m in self.multipliers]
    if self.hierarchical and z.shape[-1] % len(widths):
      raise ValueError(
          f"BigGAN's G splits z into {len(widths)} equal chunks (the 4x4 map and "
          f"{len(widths) - 1} blocks): z_dim {z.shape[-1]} is not a multiple of {len(widths)}; "
          f"use e.g. {20 * len(widths)} (chunks of 20, as StudioGAN and BigGAN-PyTorch).")
    shared = nn.Embed(self.num_classes, self.shared_dim,
                      embedding_init=INITS[self.layers.init], name="shared")(labels)
    if self.hierarchical:
      first, *chunks = jnp.split(z, len(widths), axis=-1)
      conditions = [jnp.concatenate([shared, chunk.astype(shared.dtype)], axis=-1)
                    for chunk in chunks]
    else:
      first, conditions = z, [shared] * (len(widths) - 1)
    x = self.layers.dense(4 * 4 * widths[0], True, self.dtype, "dense")(first, train)
    x = x.reshape(z.shape[0], 4, 4, widths[0])
    resolution = 4
    for i, (features, condition) in enumerate(zip(widths[1:], conditions)):
      resolution *= 2
      inner = self.nonlocal_ if self.nonlocal_.in_block(resolution) else None
      x = UpBlock(features, self.num_classes, True, inner=inner, layers=self.layers,
                  dtype=self.dtype, name=f"block{i}")(x, condition, train)
      if self.nonlocal_.after_block(resolution):
        x = self.nonlocal_.module(True, self.dtype, f"nonlocal{resolution}", self.layers)(
            x, train)
    x = self.layers.batch_norm(train, self.dtype, "bn")(x)
    x = self.layers.conv(3, 3, True, self.dtype, "conv_out")(nn.relu(x), train)
    return jnp.tanh(x.astype(jnp.float32))


def discriminator(num_classes: int, ch: int = 96,
                  multipliers: Sequence[int] = D_MULTIPLIERS, final_resolution: int = 4,
                  nonlocal_: NonLocal = SELF_ATTENTION_64,
                  layers: LayerOptions = STUDIOGAN_LAYERS, activated_shortcut: bool = True,
                  dtype: Any = jnp.float32) -> Discriminator:
  """BigGAN's D: the projection D at BigGAN's widths (block i: ch * multipliers[i]).

  `activated_shortcut=True` is StudioGAN's D (its in-place ReLU feeds ReLU(x) to the
  shortcut), False BigGAN-PyTorch's (an out-of-place ReLU, "NOT TODAY SATAN").
  """
  return Discriminator(num_classes=num_classes, ch=ch, multipliers=tuple(multipliers),
                       final_resolution=final_resolution, activated_shortcut=activated_shortcut,
                       nonlocal_=nonlocal_, layers=layers, dtype=dtype)
