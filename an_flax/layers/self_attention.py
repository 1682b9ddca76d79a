"""SA-GAN self-attention block: the non-local baseline AN is compared with."""

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from an_flax.layers.spectral import SNConv


def max_pool(x: jnp.ndarray, window: int) -> jnp.ndarray:
  """Non-overlapping window x window max-pool of an NHWC map ('VALID').

  A max over reshaped windows, not `lax.reduce_window`: its gradient is an
  elementwise mask instead of a select-and-scatter, which XLA:CPU runs slowly.
  """
  n, h, w, c = x.shape
  rows, cols = h // window, w // window
  windows = x[:, :rows * window, :cols * window].reshape(n, rows, window, cols, window, c)
  return jnp.max(windows, axis=(2, 4))


class SelfAttention(nn.Module):
  """Self-attention of Zhang et al. (2019), as in BigGAN-PyTorch's `Attention`.

  query/key: 1x1 conv C -> C/8; value: 1x1 conv C -> C/2; keys and values are
  2x2 max-pooled; the attended values go through a 1x1 conv C/2 -> C and are
  added back with a learnable weight `gamma` initialised to 0. Cost and memory
  are quadratic in H*W: (N, HW, HW/4) attention logits. StudioGAN's `SelfAttention`
  (theta, phi, g, attn, sigma) is the same module.
  """

  spectral: bool = True
  spectral_form: str = "flax"
  kernel_init: Any = nn.initializers.xavier_uniform()
  dtype: Any = None
  param_dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x: jnp.ndarray, train: bool = False) -> jnp.ndarray:
    n, h, w, c = x.shape
    if c % 8:
      raise ValueError(f"SelfAttention needs channels divisible by 8, got {c}.")
    conv = lambda features, name: SNConv(
        features, (1, 1), use_bias=False, spectral=self.spectral,
        spectral_form=self.spectral_form, kernel_init=self.kernel_init, dtype=self.dtype,
        param_dtype=self.param_dtype, name=name)
    pool = lambda t: max_pool(t, 2)
    query = conv(c // 8, "query")(x, train).reshape(n, h * w, c // 8)
    key = pool(conv(c // 8, "key")(x, train)).reshape(n, -1, c // 8)
    value = pool(conv(c // 2, "value")(x, train)).reshape(n, -1, c // 2)
    logits = jnp.einsum("npc,nqc->npq", query, key, preferred_element_type=jnp.float32)
    weights = jax.nn.softmax(logits, axis=-1).astype(value.dtype)
    attended = jnp.einsum("npq,nqc->npc", weights, value).reshape(n, h, w, c // 2)
    out = conv(c, "out")(attended, train)
    gamma = self.param("gamma", nn.initializers.zeros, (), self.param_dtype)
    return (x + gamma * out).astype(x.dtype)
