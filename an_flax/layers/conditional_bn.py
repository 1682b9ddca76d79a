"""Class-conditional BatchNorm (SN-GAN / SA-GAN generators)."""

from typing import Any, Optional

import flax.linen as nn
import jax
import jax.numpy as jnp

from an_flax.layers.spectral import SNDense

CBN_FORMS = ("table", "one_plus")


class ConditionalBatchNorm(nn.Module):
  """BatchNorm without its own affine, then a per-class gain and bias.

  `form='table'`: gamma = gain[y] (init 1) and beta = bias[y] (init 0), one row per
  class, as in the projection-discriminator papers. `form='one_plus'`: StudioGAN's
  gamma = 1 + gain(y), beta = bias(y), `gain` and `bias` bias-free dense layers over
  the one-hot label (initialised by `kernel_init`, spectrally normalised when
  `spectral`), so a PyTorch checkpoint loads as it is and training sees its
  parametrisation (spectral norm of W, not of 1 + W). With `form='one_plus'` the labels
  may instead be a float conditioning vector (N, d) that the dense layers read as it is:
  BigGAN's shared class embedding joined with a chunk of z (`an_flax.models.biggan`).
  Statistics are kept in float32 in `batch_stats`. Under `jax.jit` with a sharded batch
  they are global-batch statistics.
  Per-device statistics come from applying the model inside `shard_map` with
  `axis_name=None`; `axis_name` averages the statistics over that named axis (e.g. to
  pool them within a `vmap`/`shard_map` group).

  Flax's `momentum=0.9` equals PyTorch's `momentum=0.1`.
  """

  num_classes: int
  momentum: float = 0.9
  epsilon: float = 1e-5
  form: str = "table"
  spectral: bool = False
  spectral_form: str = "flax"
  kernel_init: Any = nn.initializers.xavier_uniform()
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
    if self.form == "table":
      gain = nn.Embed(self.num_classes, features, embedding_init=nn.initializers.ones,
                      param_dtype=self.param_dtype, name="gain")(labels)
      bias = nn.Embed(self.num_classes, features, embedding_init=nn.initializers.zeros,
                      param_dtype=self.param_dtype, name="bias")(labels)
    elif self.form == "one_plus":
      condition = (labels if jnp.issubdtype(labels.dtype, jnp.floating)
                   else jax.nn.one_hot(labels, self.num_classes, dtype=self.param_dtype))
      # HIGHEST: the product with a one-hot row selects the row exactly on every backend,
      # and a conditioning vector's is float32's on every backend.
      project = lambda name: SNDense(
          features, use_bias=False, spectral=self.spectral, spectral_form=self.spectral_form,
          kernel_init=self.kernel_init, precision=jax.lax.Precision.HIGHEST,
          param_dtype=self.param_dtype, name=name)(condition, train)
      gain, bias = 1.0 + project("gain"), project("bias")
    else:
      raise ValueError(f"Unknown ConditionalBatchNorm form {self.form!r}; use one of "
                       f"{CBN_FORMS}.")
    broadcast = (x.shape[0],) + (1,) * (x.ndim - 2) + (features,)
    return x * gain.reshape(broadcast).astype(x.dtype) + bias.reshape(broadcast).astype(x.dtype)
