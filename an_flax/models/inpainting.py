"""Coarse-to-fine inpainting generator and WGAN-GP critics (DeepFill v1 with AN).

The generator follows the released AN inpainting model (dvlab-research/AttenNorm,
`inpaint-attnorm/net/network.py`), which is DeepFill v1 with its contextual
attention branch replaced by Attentive Normalization:

  coarse:  Encoder(context='dilated')            -> Decoder -> coarse
  refine:  Encoder(context='dilated')  ----+
           Encoder(context=<non-local>) ---+ concat -> Decoder -> refined

Both stages see concat(masked image, ones, mask); the refinement sees the
coarse result pasted into the hole. Masks are float32 (N, H, W, 1) with
1 = hole, 0 = known. H and W must be multiples of 4; with the AN defaults
(n = 16 entities, 2x2 key pooling, per-example sampling without replacement)
the 1/8-resolution key map needs >= 16 positions, so H, W >= 32.

Differences from the released code, on purpose:
  * nearest 2x upsampling is a pixel repeat; the released code calls
    `resize_nearest_neighbor(..., align_corners=True)`, which for a 2x resize
    duplicates a slightly different set of rows near the centre.
  * the critics are DeepFill v1's (4 conv5-s2 layers + dense); the released AN
    critics have 6 layers and an SA-GAN attention block (see `Critic`).
"""

from typing import Optional, Sequence, Tuple

import flax.linen as nn
import jax
import jax.numpy as jnp

from an_flax.models import non_local as registry

DILATED = "dilated"  # the encoder context of the coarse net and the hallucination branch
DILATION_RATES: Tuple[int, ...] = (2, 4, 8, 16)


def composite(prediction: jax.Array, masked_image: jax.Array, mask: jax.Array) -> jax.Array:
  """Prediction inside the hole, the input outside: exact on known pixels."""
  return prediction * mask + masked_image * (1.0 - mask)


def generator_input(masked_image: jax.Array, mask: jax.Array) -> jax.Array:
  """concat(masked image, ones, mask), as DeepFill: the ones channel lets the
  network find the image border under zero padding."""
  return jnp.concatenate([masked_image, jnp.ones_like(mask), mask], axis=-1)


def _conv(features: int, kernel: int = 3, stride: int = 1, dilation: int = 1,
          name: Optional[str] = None) -> nn.Conv:
  return nn.Conv(features, (kernel, kernel), strides=(stride, stride),
                 kernel_dilation=(dilation, dilation), padding="SAME", name=name)


def upsample2x(x: jax.Array) -> jax.Array:
  """Nearest-neighbour 2x upsampling (pixel repeat)."""
  return jnp.repeat(jnp.repeat(x, 2, axis=1), 2, axis=2)


class Encoder(nn.Module):
  """Two stride-2 stages to 1/4 resolution, then a context block.

  context='dilated': conv3 + dilated conv3 at rates 2, 4, 8, 16 (the coarse
  net and the refinement's hallucination branch). A kind of `registry.KINDS`: conv3
  without activation -> module -> ELU -> 2x conv3, the branch where the
  released code puts AN ('none' keeps the convolutions, drops the module). The module
  is named after its kind and built with `options`, without spectral norm.
  """

  width: int = 32
  context: str = DILATED
  options: registry.Options = registry.Options({})

  @nn.compact
  def __call__(self, x: jax.Array, train: bool) -> jax.Array:
    w = self.width
    x = nn.elu(_conv(w, 5)(x))
    x = nn.elu(_conv(2 * w, 3, 2)(x))
    x = nn.elu(_conv(2 * w)(x))
    x = nn.elu(_conv(4 * w, 3, 2)(x))
    x = nn.elu(_conv(4 * w)(x))
    if self.context == DILATED:
      x = nn.elu(_conv(4 * w)(x))
      for rate in DILATION_RATES:
        x = nn.elu(_conv(4 * w, dilation=rate)(x))
      return x
    x = _conv(4 * w)(x)
    if self.context != registry.NONE:
      x = registry.build(self.context, self.options, spectral=False, dtype=None,
                          module_name=self.context)(x, train)
    x = nn.elu(x)
    x = nn.elu(_conv(4 * w)(x))
    return nn.elu(_conv(4 * w)(x))


class Decoder(nn.Module):
  """1/4-resolution features -> RGB in [-1, 1], shared by both stages."""

  width: int = 32

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    w = self.width
    x = nn.elu(_conv(4 * w)(x))
    x = nn.elu(_conv(4 * w)(x))
    x = nn.elu(_conv(2 * w)(upsample2x(x)))
    x = nn.elu(_conv(2 * w)(x))
    x = nn.elu(_conv(w)(upsample2x(x)))
    x = nn.elu(_conv(max(w // 2, 1))(x))
    return jnp.clip(_conv(3)(x), -1.0, 1.0)


class InpaintingGenerator(nn.Module):
  """Coarse-to-fine generator. Returns (coarse, refined), each (N, H, W, 3).

  `image` may be the full ground truth: the hole is zeroed here, so no hole
  pixel can leak into the prediction. Use `composite(refined, image * (1 -
  mask), mask)` for the final picture. `non_local` is the refinement branch's module,
  a kind of `registry.KINDS` built with `options`. With 'attentive_norm' the
  layout is sown into `intermediates` and the orthogonality penalty into
  `losses`; train=True then needs the PRNG stream 'sampling'.
  """

  width: int = 32
  non_local: str = "attentive_norm"
  options: registry.Options = registry.Options({})

  @nn.compact
  def __call__(self, image: jax.Array, mask: jax.Array, train: bool = False
               ) -> Tuple[jax.Array, jax.Array]:
    _check_spatial(image.shape)
    unknown = registry.kind_problem(self.non_local)
    if unknown:
      raise ValueError(f"non_local: {unknown[0]}; {unknown[1]}.")
    masked = image * (1.0 - mask)
    features = Encoder(self.width, "dilated", name="coarse_encoder")(
        generator_input(masked, mask), train)
    coarse = Decoder(self.width, name="coarse_decoder")(features)

    refine_input = generator_input(composite(coarse, masked, mask), mask)
    hallucinated = Encoder(self.width, "dilated", name="dilated_branch")(refine_input, train)
    attended = Encoder(self.width, self.non_local, self.options,
                       name="non_local_branch")(refine_input, train)
    refined = Decoder(self.width, name="refine_decoder")(
        jnp.concatenate([hallucinated, attended], axis=-1))
    return coarse, refined


def _check_spatial(shape: Sequence[int]) -> None:
  height, width = shape[1:3]
  if height % 4 or width % 4:
    raise ValueError(f"Inpainting images need height and width divisible by 4, got {height}x{width}.")


class Critic(nn.Module):
  """WGAN critic: conv5 stride 2 + leaky ReLU(0.2) per stage, flatten, dense(1).

  No normalisation, so the gradient penalty sees per-example gradients.
  DeepFill v1 uses multipliers (1, 2, 4, 4) for the global critic and
  (1, 2, 4, 8) for the local one.
  """

  width: int = 64
  multipliers: Tuple[int, ...] = (1, 2, 4, 8)

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    for multiplier in self.multipliers:
      x = nn.leaky_relu(_conv(self.width * multiplier, 5, 2)(x), 0.2)
    return nn.Dense(1)(x.reshape(x.shape[0], -1))[:, 0]


class InpaintingCritics(nn.Module):
  """The global (whole image) and local (hole patch) critics, one param tree.

  `global_critic(images)` and `local_critic(patches)` are separate methods so
  each gradient penalty differentiates only its own critic; `__call__` runs
  both (used by `init`).
  """

  width: int = 64

  def setup(self):
    self.global_net = Critic(self.width, (1, 2, 4, 4))
    self.local_net = Critic(self.width, (1, 2, 4, 8))

  def global_critic(self, images: jax.Array) -> jax.Array:
    return self.global_net(images)

  def local_critic(self, patches: jax.Array) -> jax.Array:
    return self.local_net(patches)

  def __call__(self, images: jax.Array, patches: jax.Array) -> Tuple[jax.Array, jax.Array]:
    return self.global_critic(images), self.local_critic(patches)


def attentive_norm_layouts(intermediates) -> Tuple[jax.Array, ...]:
  """The sown AN layouts (N, H, W, n) of an `intermediates` collection, if any."""
  leaves = jax.tree_util.tree_leaves_with_path(intermediates)
  return tuple(leaf for path, leaf in leaves
               if any(getattr(key, "key", None) == "layout" for key in path))
