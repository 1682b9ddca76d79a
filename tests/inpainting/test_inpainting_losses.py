"""Losses: spatial discount vs its formula, masked L1, WGAN-GP on a linear critic, ID-MRF."""

import jax
import jax.numpy as jnp
import numpy as np

from an_flax.inpainting import losses


def test_spatial_discount_of_a_rectangle_matches_the_formula():
  gamma, (top, left, h, w) = 0.9, (5, 7, 20, 13)
  mask = np.zeros((1, 40, 32, 1), np.float32)
  mask[0, top:top + h, left:left + w] = 1.0
  weights = np.array(losses.spatial_discount(jnp.asarray(mask), gamma))[0, ..., 0]
  i, j = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")
  expected = gamma ** np.minimum(np.minimum(i, h - 1 - i), np.minimum(j, w - 1 - j))
  np.testing.assert_allclose(weights[top:top + h, left:left + w], expected, rtol=1e-6)
  weights[top:top + h, left:left + w] = 0.0
  assert not weights.any()  # zero on known pixels


def test_spatial_discount_counts_the_image_border_as_known():
  mask = jnp.ones((1, 8, 8, 1))
  weights = np.asarray(losses.spatial_discount(mask, 0.5))[0, :, :, 0]
  i, j = np.meshgrid(np.arange(8), np.arange(8), indexing="ij")
  np.testing.assert_allclose(weights, 0.5 ** np.minimum(np.minimum(i, 7 - i), np.minimum(j, 7 - j)))


def test_masked_l1():
  prediction = jnp.zeros((2, 4, 4, 3))
  target = jnp.arange(2 * 4 * 4 * 3, dtype=jnp.float32).reshape(2, 4, 4, 3)
  region = jnp.zeros((2, 4, 4, 1)).at[0, 1, 2].set(1.0).at[1, 3, 0].set(1.0)
  expected = (np.asarray(target[0, 1, 2]).sum() + np.asarray(target[1, 3, 0]).sum()) / 6
  np.testing.assert_allclose(float(losses.masked_l1(prediction, target, region)), expected, rtol=1e-6)
  weight = jnp.full((2, 4, 4, 1), 0.5)
  np.testing.assert_allclose(float(losses.masked_l1(prediction, target, region, weight)),
                             expected / 2, rtol=1e-6)


def test_gradient_penalty_of_a_linear_critic():
  """D(x) = <w, x> + c has gradient w everywhere: penalty = (||w * mask|| - 1)^2."""
  rng = np.random.default_rng(0)
  w = jnp.asarray(rng.normal(size=(6, 5, 3)), jnp.float32) * 0.1
  critic = lambda x: jnp.einsum("nhwc,hwc->n", x, w) + 3.0
  x = jnp.asarray(rng.normal(size=(4, 6, 5, 3)), jnp.float32)
  norm = float(np.sqrt(np.sum(np.square(w))))
  np.testing.assert_allclose(float(losses.gradient_penalty(critic, x)), (norm - 1) ** 2, rtol=1e-5)
  mask = np.zeros((4, 6, 5, 1), np.float32)
  mask[:, 2:4, 1:3] = 1.0
  masked_norm = float(np.sqrt(np.sum(np.square(w)[2:4, 1:3])))
  np.testing.assert_allclose(float(losses.gradient_penalty(critic, x, jnp.asarray(mask))),
                             (masked_norm - 1) ** 2, rtol=1e-5)


def test_gradient_penalty_is_per_example():
  """D(x) = sum(x^2) per example: gradient 2x, so each example has its own norm."""
  critic = lambda x: jnp.sum(x * x, axis=(1, 2, 3))
  x = jnp.stack([jnp.full((2, 2, 1), 0.25), jnp.full((2, 2, 1), 1.0)])
  # ||2x|| = 2 * 0.25 * 2 = 1 and 2 * 1 * 2 = 4 -> penalties 0 and 9.
  np.testing.assert_allclose(float(losses.gradient_penalty(critic, x)), 4.5, rtol=1e-6)


def test_random_interpolates_lie_on_the_segment():
  real, fake = jnp.zeros((16, 2, 2, 3)), jnp.ones((16, 2, 2, 3))
  mixed = np.asarray(losses.random_interpolates(jax.random.PRNGKey(0), real, fake))
  alpha = mixed[:, :1, :1, :1]
  np.testing.assert_array_equal(mixed, np.broadcast_to(alpha, mixed.shape))
  assert (alpha >= 0).all() and (alpha <= 1).all() and np.unique(alpha).size == 16


def test_wgan_losses():
  real, fake = jnp.array([1.0, 3.0]), jnp.array([-2.0, 0.0])
  assert float(losses.wgan_critic_loss(real, fake)) == -3.0
  assert float(losses.wgan_generator_loss(fake)) == 1.0


def _id_mrf_reference(gen, tar, sigma=0.5, bias=1.0):
  """Loop transcription of the released TF `mrf_loss` (dot-product distance)."""
  mean = tar.mean(axis=(0, 1, 2))
  total = []
  for g, t in zip(gen, tar):
    g = g.reshape(-1, g.shape[-1]) - mean
    t = t.reshape(-1, t.shape[-1]) - mean
    g /= np.linalg.norm(g, axis=1, keepdims=True)
    t /= np.linalg.norm(t, axis=1, keepdims=True)
    dist = (1 - g @ t.T) / 2
    rel = dist / (dist.min(axis=1, keepdims=True) + 1e-5)
    cs = np.exp((bias - rel) / sigma)
    cs /= cs.sum(axis=1, keepdims=True)
    total.append(-np.log(cs.max(axis=0).mean()))
  return np.mean(total)


def test_id_mrf_matches_a_loop_transcription():
  rng = np.random.default_rng(1)
  gen, tar = rng.normal(size=(2, 5, 4, 8)), rng.normal(size=(2, 5, 4, 8))
  got = float(losses.id_mrf(jnp.asarray(gen, jnp.float32), jnp.asarray(tar, jnp.float32)))
  np.testing.assert_allclose(got, _id_mrf_reference(gen, tar), rtol=1e-4)
  same = float(losses.id_mrf(jnp.asarray(tar, jnp.float32), jnp.asarray(tar, jnp.float32)))
  assert same < 1e-3 < got  # identical features are matched one to one
