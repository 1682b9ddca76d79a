"""Spectrally normalised layers: `flax.linen.SpectralNorm`, or torch's rule for parity.

The power-iteration state lives in its own collection, `SPECTRAL_COLLECTION`, so it
never mixes with BatchNorm statistics and can be averaged (EMA) or frozen
independently. Two forms (`spectral_form`):

  'flax'   `flax.linen.SpectralNorm`: state `u` and `sigma`; every call, eval included,
           runs one power iteration from `u` and divides by the sigma it finds, so the
           eval-mode weights follow the current kernel (the stored sigma is never read).
  'torch'  `TorchSpectralNorm`, the rule of `torch.nn.utils.spectral_norm`: state `u`
           and `v`; a train call iterates once and stores both, an eval call divides by
           u . W v with the stored vectors. The form of StudioGAN's checkpoints: their
           G_ema's averaged vectors give these, and only these, weights.
"""

import functools
from typing import Any, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from an_flax.layers.resampling import ResamplingConv

SPECTRAL_COLLECTION = "spectral"
SPECTRAL_FORMS = ("flax", "torch")
# BigGAN-PyTorch / StudioGAN use 1e-6; Flax's default is 1e-12. Flax adds it to the
# squared norm, torch takes max(norm, eps): the same only for vectors far from 0.
SPECTRAL_EPSILON = 1e-6


def _unit(x: jax.Array, eps: float) -> jax.Array:
  """`torch.nn.functional.normalize(x, dim=0, eps=eps)`: x / max(|x|, eps)."""
  return x / jnp.maximum(jnp.linalg.norm(x), eps)


class TorchSpectralNorm(nn.Module):
  """`torch.nn.utils.spectral_norm` around a linen layer: every >1-d parameter W / sigma.

  W is viewed as torch views its weight: `u_axis` gives the rows (torch's dim 0: the
  output axis of a dense or conv kernel, the class axis of an embedding table), the
  other axes, flattened in order, the columns. State in `collection_name`:
  '<layer>/<param>/u' (rows,) and '.../v' (columns,), unit normal draws at init.
  `update_stats=True`: v = n(W^T u), u = n(W v), stored. Always: sigma = u . W v, no
  gradient through u and v. `init` keeps the initialiser's W as torch does (dividing by
  sigma of random u, v would scale it at random).
  """

  layer_instance: nn.Module
  u_axis: int = -1
  epsilon: float = SPECTRAL_EPSILON
  collection_name: str = SPECTRAL_COLLECTION

  @nn.compact
  def __call__(self, *args, update_stats: bool, **kwargs):
    normalize = functools.partial(self._normalize, update_stats=update_stats)
    return nn.map_variables(
        lambda layer: layer(*args, **kwargs),
        trans_in_fn=lambda vs: jax.tree_util.tree_map_with_path(normalize, vs),
        init=self.is_initializing(), mutable=True)(self.layer_instance)

  def _normalize(self, path: Sequence[Any], value: jax.Array, update_stats: bool
                 ) -> jax.Array:
    if value.ndim < 2:
      return value
    matrix = jnp.moveaxis(value, self.u_axis, 0)
    matrix = matrix.reshape(matrix.shape[0], -1)
    name = "/".join([self.layer_instance.name] + [key.key for key in path[1:]])
    unit = lambda size: _unit(jax.random.normal(self.make_rng("params"), (size,)),
                              self.epsilon)
    u = self.variable(self.collection_name, f"{name}/u", unit, matrix.shape[0])
    v = self.variable(self.collection_name, f"{name}/v", unit, matrix.shape[1])
    if self.is_initializing():  # map_variables writes what this returns back as W
      return value
    mv = functools.partial(jnp.matmul, precision=jax.lax.Precision.HIGHEST)
    u_value, v_value = u.value, v.value
    if update_stats:
      weights = jax.lax.stop_gradient(matrix)
      v_value = _unit(mv(u_value, weights), self.epsilon)
      u_value = _unit(mv(weights, v_value), self.epsilon)
      u.value, v.value = u_value, v_value
    return value / jnp.dot(u_value, mv(matrix, v_value), precision=jax.lax.Precision.HIGHEST)


def _maybe_spectral(layer: nn.Module, enabled: bool, form: str, x: Any, train: bool,
                    u_axis: int = -1) -> jnp.ndarray:
  """`layer(x)`, its parameters spectrally normalised in `form` when `enabled`.

  `u_axis`: torch's row axis of the parameter (the 'torch' form only; 'flax' always
  normalises over the last axis).
  """
  if not enabled:
    return layer(x)
  if form == "torch":
    return TorchSpectralNorm(layer, u_axis=u_axis)(x, update_stats=train)
  if form != "flax":
    raise ValueError(f"Unknown spectral_form {form!r}; use one of {SPECTRAL_FORMS}.")
  return nn.SpectralNorm(
      layer, epsilon=SPECTRAL_EPSILON, collection_name=SPECTRAL_COLLECTION
  )(x, update_stats=train)


class SNConv(nn.Module):
  """Convolution whose kernel is divided by its largest singular value.

  `spectral=False` gives the plain convolution with the same parameter layout,
  so a generator can switch spectral norm on or off by configuration.
  `resample='up'` convolves the 2x nearest-upsampled input, `'down'` average-pools the
  output 2x2 (3x3 'SAME' only), computed at the lower resolution
  (`an_flax.layers.resampling`), with the same parameters.
  """

  features: int
  kernel_size: Sequence[int] = (3, 3)
  strides: Sequence[int] = (1, 1)
  padding: Any = "SAME"
  kernel_dilation: Sequence[int] = (1, 1)
  use_bias: bool = True
  spectral: bool = True
  spectral_form: str = "flax"
  kernel_init: Any = nn.initializers.xavier_uniform()
  resample: str | None = None  # None | 'up' | 'down'
  dtype: Any = None
  param_dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x: jnp.ndarray, train: bool = False) -> jnp.ndarray:
    if self.resample is not None:
      if (tuple(self.kernel_size), tuple(self.strides), self.padding,
          tuple(self.kernel_dilation)) != ((3, 3), (1, 1), "SAME", (1, 1)):
        raise ValueError("SNConv(resample=...) is a 3x3 'SAME' convolution of stride 1.")
      conv = ResamplingConv(self.features, self.resample, use_bias=self.use_bias,
                            kernel_init=self.kernel_init, dtype=self.dtype,
                            param_dtype=self.param_dtype, name="conv")
      return _maybe_spectral(conv, self.spectral, self.spectral_form, x, train)
    conv = nn.Conv(
        self.features,
        tuple(self.kernel_size),
        strides=tuple(self.strides),
        padding=self.padding,
        kernel_dilation=tuple(self.kernel_dilation),
        use_bias=self.use_bias,
        kernel_init=self.kernel_init,
        dtype=self.dtype,
        param_dtype=self.param_dtype,
        name="conv",
    )
    return _maybe_spectral(conv, self.spectral, self.spectral_form, x, train)


class SNDense(nn.Module):
  """Dense layer with optional spectral normalisation of its kernel."""

  features: int
  use_bias: bool = True
  spectral: bool = True
  spectral_form: str = "flax"
  kernel_init: Any = nn.initializers.xavier_uniform()
  precision: Any = None
  dtype: Any = None
  param_dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x: jnp.ndarray, train: bool = False) -> jnp.ndarray:
    dense = nn.Dense(
        self.features,
        use_bias=self.use_bias,
        kernel_init=self.kernel_init,
        precision=self.precision,
        dtype=self.dtype,
        param_dtype=self.param_dtype,
        name="dense",
    )
    return _maybe_spectral(dense, self.spectral, self.spectral_form, x, train)


class SNEmbed(nn.Module):
  """Class embedding with optional spectral normalisation of its table.

  Used for the projection term of the discriminator, as in SN-GAN/SA-GAN. In the
  'torch' form the rows of the (classes, features) table are torch's rows, as for a
  spectrally normalised `torch.nn.Embedding`.
  """

  num_embeddings: int
  features: int
  spectral: bool = True
  spectral_form: str = "flax"
  embedding_init: Any = nn.initializers.xavier_uniform()
  dtype: Any = None
  param_dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, labels: jnp.ndarray, train: bool = False) -> jnp.ndarray:
    embed = nn.Embed(
        self.num_embeddings,
        self.features,
        embedding_init=self.embedding_init,
        dtype=self.dtype,
        param_dtype=self.param_dtype,
        name="embed",
    )
    return _maybe_spectral(embed, self.spectral, self.spectral_form, labels, train, u_axis=0)
