"""an_flax: Attentive Normalization for conditional image generation, in JAX/Flax."""
