"""LeCam against a transcription of StudioGAN's LeCamEMA, lecam_reg and worker lines."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch

from an_flax.training import lecam
from benchmarks.pytorch import lecam as reference

# Relative: StudioGAN keeps the anchors as Python floats (float64), we in float32.
RTOL = 1e-5


@pytest.mark.parametrize("start_step", [0, 3])
def test_terms_anchors_and_gradients_follow_studiogan_over_steps(start_step):
  """Several D updates per G step, across the start step: the same term added to D's loss,
  the same anchors after every update and the same gradient of the term in the logits."""
  rng = np.random.default_rng()
  weight, decay, d_steps = float(rng.uniform(0.1, 1.0)), 0.9, 2
  theirs = reference.LeCamEMA(decay=decay, start_iter=start_step)
  anchors = lecam.init_anchors()
  term_fn = jax.jit(jax.value_and_grad(
      lambda real, fake, anchors, step: lecam.lecam_term(
          anchors, real, fake, step, weight, decay, start_step), argnums=(0, 1), has_aux=True))
  counted = 0
  for step in range(start_step + 4):
    for _ in range(d_steps):
      real = (rng.standard_normal(8) + rng.uniform(-1, 2)).astype(np.float32)
      fake = (rng.standard_normal(8) + rng.uniform(-2, 1)).astype(np.float32)
      (term, anchors), (d_real, d_fake) = term_fn(real, fake, anchors, jnp.int32(step))
      real_t, fake_t = (torch.tensor(x, requires_grad=True) for x in (real, fake))
      expected = reference.d_update_term(theirs, real_t, fake_t, step, weight, start_step)
      np.testing.assert_allclose(float(anchors.real), theirs.D_real, rtol=RTOL)
      np.testing.assert_allclose(float(anchors.fake), theirs.D_fake, rtol=RTOL)
      np.testing.assert_allclose(float(term), expected.item(), rtol=RTOL, atol=1e-7)
      if expected.requires_grad:
        expected.backward()
        np.testing.assert_allclose(d_real, real_t.grad.numpy(), rtol=RTOL, atol=1e-7)
        np.testing.assert_allclose(d_fake, fake_t.grad.numpy(), rtol=RTOL, atol=1e-7)
        counted += expected.item() > 0
      else:
        assert float(term) == 0.0 and not np.any(d_real) and not np.any(d_fake)
  assert counted >= d_steps  # the regulariser was on, and not always zero


def test_penalty_is_the_formula():
  rng = np.random.default_rng()
  real, fake = rng.standard_normal(16), rng.standard_normal(16)
  anchors = lecam.LeCamAnchors(real=jnp.float32(0.3), fake=jnp.float32(-0.2))
  expected = (np.mean(np.maximum(real - (-0.2), 0) ** 2)
              + np.mean(np.maximum(0.3 - fake, 0) ** 2))
  np.testing.assert_allclose(float(lecam.lecam_penalty(
      jnp.asarray(real, jnp.float32), jnp.asarray(fake, jnp.float32), anchors)), expected,
      rtol=1e-6)
