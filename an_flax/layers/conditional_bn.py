"""Class-conditional BatchNorm (SN-GAN / SA-GAN generators)."""

from typing import Any, Optional

import flax.linen as nn
import jax.numpy as jnp


class ConditionalBatchNorm(nn.Module):
  """BatchNorm without its own affine, then a per-class gain and bias.

  gamma = gain[y] (init 1) and beta = bias[y] (init 0), one row per class, as
  in the projection-discriminator papers. Statistics are kept in float32 in
  `batch_stats`. Under `jax.jit` with a sharded batch they are global-batch
  statistics. Per-device statistics come from applying the model inside
  `shard_map` with `axis_name=None`; `axis_name` averages the statistics over
  that named axis (e.g. to pool them within a `vmap`/`shard_map` group).

  Flax's `momentum=0.9` equals PyTorch's `momentum=0.1`.
  """

  num_classes: int
  momentum: float = 0.9
  epsilon: float = 1e-5
  axis_name: Optional[str] = None
  dtype: Any = None
  param_dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x: jnp.ndarray, labels: jnp.ndarray, train: bool = False) -> jnp.ndarray:
    features = x.shape[-1]
    x = nn.BatchNorm(
        use_running_average=not train,
        momentum=self.momentum,
        epsilon=self.epsilon,
        use_scale=False,
        use_bias=False,
        axis_name=self.axis_name,
        dtype=self.dtype,
        param_dtype=self.param_dtype,
        force_float32_reductions=True,
        name="bn",
    )(x)
    gain = nn.Embed(self.num_classes, features, embedding_init=nn.initializers.ones,
                    param_dtype=self.param_dtype, name="gain")(labels)
    bias = nn.Embed(self.num_classes, features, embedding_init=nn.initializers.zeros,
                    param_dtype=self.param_dtype, name="bias")(labels)
    broadcast = (x.shape[0],) + (1,) * (x.ndim - 2) + (features,)
    return x * gain.reshape(broadcast).astype(x.dtype) + bias.reshape(broadcast).astype(x.dtype)
