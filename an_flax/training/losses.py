"""Hinge GAN losses (SN-GAN / SA-GAN) in float32."""

import jax
import jax.numpy as jnp


def discriminator_hinge(real_logits: jax.Array, fake_logits: jax.Array) -> jax.Array:
  """E[relu(1 - D(x))] + E[relu(1 + D(G(z)))]."""
  real = jnp.mean(jax.nn.relu(1.0 - real_logits.astype(jnp.float32)))
  fake = jnp.mean(jax.nn.relu(1.0 + fake_logits.astype(jnp.float32)))
  return real + fake


def generator_hinge(fake_logits: jax.Array) -> jax.Array:
  """-E[D(G(z))]."""
  return -jnp.mean(fake_logits.astype(jnp.float32))
