"""Class-conditional ResNet GANs: SN-GAN / SA-GAN generator and projection D.

`an_flax.models.build_models(config.model)` checks a config and builds them (or BigGAN's).
Call signatures, BigGAN's too (`an_flax.models.biggan`):

  generator.apply(variables, z, labels, train=..., rngs={'sampling': key},
                  mutable=['batch_stats', 'spectral', 'losses', 'intermediates'])
      -> images (N, R, R, 3), float32 in [-1, 1]
  discriminator.apply(variables, images, labels, train=..., mutable=[...])
      -> logits (N,), float32

Collections: 'params'; 'batch_stats' (G's BatchNorm only); 'spectral'
(power-iteration state, advanced when train=True); 'losses' (AN's
'orthogonal' penalties, unweighted); 'intermediates' (AN's 'layout'). The
'sampling' stream is needed only when train=True and AN is present. Sown
values append to what the passed-in variables hold: never feed 'losses' or
'intermediates' back into the next apply.

Mixed precision: `dtype` is the compute dtype of every conv / dense and of the
non-local modules; parameters, BatchNorm statistics, G's tanh output and D's
head (sum-pooled features, linear, projection) are float32.
"""

from typing import Any, Sequence, Tuple

import flax.linen as nn
import jax
import jax.numpy as jnp

from an_flax.models.blocks import DownBlock, NonLocal, UpBlock
from an_flax.models.layer_options import LayerOptions


class Generator(nn.Module):
  """z, y -> image. Block i outputs resolution 8 * 2**i and ch * multipliers[i+1] channels.

  Parameter names: 'dense' (z -> 4x4), 'block{i}', 'nonlocal{resolution}'
  (after-block modules), 'block{i}/nonlocal' (inside-block modules), 'bn',
  'conv_out'.

  BatchNorm statistics are those of the batch the apply sees: the global batch
  under jit, even with a sharded batch; the device's rows inside shard_map
  (per-device statistics, `an_flax.training.state.generator_train_apply`).
  """

  num_classes: int
  ch: int = 64
  multipliers: Sequence[int] = (16, 16, 8, 4, 2, 1)
  spectral: bool = True
  nonlocal_: NonLocal = NonLocal()
  layers: LayerOptions = LayerOptions()
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, z: jax.Array, labels: jax.Array, train: bool = False) -> jax.Array:
    widths = [self.ch * m for m in self.multipliers]
    x = self.layers.dense(4 * 4 * widths[0], self.spectral, self.dtype, "dense")(z, train)
    x = x.reshape(z.shape[0], 4, 4, widths[0])
    resolution = 4
    for i, features in enumerate(widths[1:]):
      resolution *= 2
      inner = self.nonlocal_ if self.nonlocal_.in_block(resolution) else None
      x = UpBlock(features, self.num_classes, self.spectral, inner=inner, layers=self.layers,
                  dtype=self.dtype, name=f"block{i}")(x, labels, train)
      if self.nonlocal_.after_block(resolution):
        x = self.nonlocal_.module(self.spectral, self.dtype, f"nonlocal{resolution}",
                                  self.layers)(x, train)
    x = self.layers.batch_norm(train, self.dtype, "bn")(x)
    x = self.layers.conv(3, 3, self.spectral, self.dtype, "conv_out")(nn.relu(x), train)
    return jnp.tanh(x.astype(jnp.float32))


def discriminator_resolutions(
    resolution: int, num_blocks: int, final_resolution: int) -> Tuple[Tuple[int, int], ...]:
  """(input, output) resolution of each D block: downsample while > final_resolution."""
  stages = []
  for _ in range(num_blocks):
    out = resolution // 2 if resolution > final_resolution else resolution
    stages.append((resolution, out))
    resolution = out
  return tuple(stages)


class Discriminator(nn.Module):
  """Projection discriminator: image, y -> logit. Spectral norm on every layer.

  Block i has ch * multipliers[i] channels; block 0 is SN-GAN's optimized
  block; blocks downsample while the resolution exceeds `final_resolution`.
  A non-local module listed at resolution r sits after (or inside) the FIRST
  block whose output (or convolutions) has resolution r. Names: 'block{i}',
  'nonlocal{resolution}', 'block{i}/nonlocal', 'linear', 'embed'.
  `activated_shortcut`: see `DownBlock`.
  """

  num_classes: int
  ch: int = 64
  multipliers: Sequence[int] = (1, 2, 4, 8, 16, 16)
  final_resolution: int = 4
  activated_shortcut: bool = False
  nonlocal_: NonLocal = NonLocal()
  layers: LayerOptions = LayerOptions()
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, images: jax.Array, labels: jax.Array, train: bool = False) -> jax.Array:
    x = images.astype(self.dtype)
    stages = discriminator_resolutions(x.shape[1], len(self.multipliers), self.final_resolution)
    placed_inside, placed_after = set(), set()
    for i, (multiplier, (res_in, res_out)) in enumerate(zip(self.multipliers, stages)):
      inner = None
      if self.nonlocal_.in_block(res_in) and res_in not in placed_inside:
        inner = self.nonlocal_
        placed_inside.add(res_in)
      x = DownBlock(self.ch * multiplier, preactivation=i > 0, downsample=res_out < res_in,
                    activated_shortcut=self.activated_shortcut, inner=inner,
                    layers=self.layers, dtype=self.dtype, name=f"block{i}")(x, train)
      if self.nonlocal_.after_block(res_out) and res_out not in placed_after:
        x = self.nonlocal_.module(True, self.dtype, f"nonlocal{res_out}", self.layers)(
            x, train)
        placed_after.add(res_out)
    # Global SUM pooling; the head runs in float32.
    h = jnp.sum(nn.relu(x).astype(jnp.float32), axis=(1, 2))
    logits = self.layers.dense(1, True, jnp.float32, "linear")(h, train)[:, 0]
    embedding = self.layers.embed(self.num_classes, h.shape[-1], jnp.float32, "embed")(
        labels, train)
    return logits + jnp.sum(embedding * h, axis=-1)
