"""Losses of the inpainting task (DeepFill v1 / the released AN code).

Masks are float32 (N, H, W, 1), 1 = hole. Images are in [-1, 1].

Generator: per stage (coarse, refined), an L1 on the hole weighted by the
spatially discounted confidence mask, an L1 on the known region, plus the
WGAN generator loss of both critics, the AN orthogonality penalty
(`an_flax.models.sum_sown_losses`) and the optional ID-MRF term.
Critics: WGAN loss plus a gradient penalty on random interpolates, restricted
to the hole (global critic) and to the hole inside the patch (local critic),
as in the released code.
"""

from typing import Callable, Mapping, Optional

import jax
import jax.numpy as jnp

Array = jax.Array


# --- reconstruction -----------------------------------------------------------

def spatial_discount(mask: Array, gamma: float = 0.9) -> Array:
  """Confidence gamma ** (d - 1) inside the hole, 0 outside.

  d is the chessboard distance from a hole pixel to the nearest known pixel
  (1 next to the boundary); pixels beyond the image count as known, so for a
  rectangle of h x w this is gamma ** min(i, h-1-i, j, w-1-j), DeepFill's
  `spatial_discounting_mask` made symmetric (DeepFill uses min(i, h-i)) and
  generalised to any hole shape. d is computed by repeated 3x3 erosion.
  """
  height, width = mask.shape[1:3]

  def erode(_, carry):  # 3x3 min filter; zero padding = known beyond the image
    layer, depth = carry
    padded = jnp.pad(layer, ((0, 0), (1, 1), (1, 1), (0, 0)))
    layer = jax.lax.reduce_window(padded, jnp.inf, jax.lax.min, (1, 3, 3, 1),
                                  (1, 1, 1, 1), "VALID")
    return layer, depth + layer

  mask = mask.astype(jnp.float32)
  _, depth = jax.lax.fori_loop(0, (min(height, width) + 1) // 2, erode, (mask, mask))
  return mask * jnp.power(gamma, jnp.maximum(depth - 1.0, 0.0))


def masked_l1(prediction: Array, target: Array, region: Array,
              weight: Optional[Array] = None) -> Array:
  """Sum of |prediction - target| * region * weight over (pixels x channels in region)."""
  error = jnp.abs(prediction - target) * region
  if weight is not None:
    error = error * weight
  count = jnp.sum(region) * prediction.shape[-1]
  return jnp.sum(error) / jnp.maximum(count, 1.0)


# --- adversarial --------------------------------------------------------------

def wgan_critic_loss(real_scores: Array, fake_scores: Array) -> Array:
  """E[D(fake)] - E[D(real)]: the critic widens the gap."""
  return jnp.mean(fake_scores) - jnp.mean(real_scores)


def wgan_generator_loss(fake_scores: Array) -> Array:
  return -jnp.mean(fake_scores)


def random_interpolates(key: Array, real: Array, fake: Array) -> Array:
  """real + alpha (fake - real), one alpha ~ U(0, 1) per example."""
  alpha = jax.random.uniform(key, (real.shape[0],) + (1,) * (real.ndim - 1), real.dtype)
  return real + alpha * (fake - real)


def gradient_penalty(critic: Callable[[Array], Array], interpolates: Array,
                     mask: Optional[Array] = None) -> Array:
  """E[(||grad_x D(x) * mask||_2 - 1)^2] at the interpolates (WGAN-GP).

  The critic maps (N, ...) to (N,) with no interaction between examples, so
  the gradient of the summed scores holds each example's own gradient. With
  `mask`, only the hole's gradient counts (the released code's masked
  penalty: it sums the masked squares, like Gulrajani et al.).
  """
  gradients = jax.grad(lambda x: jnp.sum(critic(x)))(interpolates)
  if mask is not None:
    gradients = gradients * mask
  norms = jnp.sqrt(jnp.sum(jnp.square(gradients), axis=tuple(range(1, gradients.ndim))) + 1e-12)
  return jnp.mean(jnp.square(norms - 1.0))


# --- ID-MRF -------------------------------------------------------------------

def id_mrf(generated: Array, target: Array, sigma: float = 0.5, bias: float = 1.0) -> Array:
  """Implicit-diversity MRF loss on one feature map (Wang et al., GMCNN 2018).

  As the released TF code (`mrf_loss` with cosine distances and 1x1 patches):
  both maps are centred by the target's per-channel mean over (N, H, W) and
  L2-normalised per position; for each example, the distance of generated
  position i to target position j is d_ij = (1 - cos_ij) / 2, made relative
  to i's nearest target (rel_ij = d_ij / (min_j d_ij + 1e-5)) and turned into
  a contextual similarity cs_ij = softmax_j((bias - rel_ij) / sigma). Each
  target feature j keeps its best match max_i cs_ij, and the loss is
  -log(mean_j max_i cs_ij): low when every target feature is matched by a
  distinct generated one.

  Args:
    generated, target: (N, H, W, C) features (e.g. VGG19 relu3_2).
  Returns:
    Scalar, the mean over the batch.
  """
  n, _, _, c = target.shape
  mean = jnp.mean(target.astype(jnp.float32), axis=(0, 1, 2))
  def normalise(x):
    x = x.astype(jnp.float32).reshape(n, -1, c) - mean
    return x * jax.lax.rsqrt(jnp.maximum(jnp.sum(x * x, -1, keepdims=True), 1e-12))
  cosine = jnp.einsum("nic,njc->nij", normalise(generated), normalise(target))
  distance = (1.0 - cosine) / 2.0
  relative = distance / (jnp.min(distance, axis=-1, keepdims=True) + 1e-5)
  similarity = jax.nn.softmax((bias - relative) / sigma, axis=-1)
  best_match = jnp.max(similarity, axis=1)  # (N, P_target)
  return jnp.mean(-jnp.log(jnp.mean(best_match, axis=-1)))


# Layers and weights of the released ID-MRF: style relu3_2 and relu4_2 (1 each),
# content relu4_2 (1).
ID_MRF_LAYERS: Mapping[str, float] = {"relu3_2": 1.0, "relu4_2": 2.0}


def id_mrf_loss(generated_features: Mapping[str, Array], target_features: Mapping[str, Array],
                layers: Mapping[str, float] = ID_MRF_LAYERS) -> Array:
  """Weighted sum of `id_mrf` over VGG19 layers."""
  return sum(weight * id_mrf(generated_features[name], target_features[name])
             for name, weight in layers.items())
