"""Attentive Normalization (Wang et al., CVPR 2020) as pure functions.

Everything here is a function of explicit arrays, parameters and PRNG keys, so
it composes with `jit`, `vmap`, `pmap` and `grad`. Shapes are NHWC; `n` is the
number of semantic entities. No function builds an (N, H, W, C, n) tensor: the
region statistics are (n x C) matrix products per example, so memory is
O(N * H * W * (C + n)).

The parameter mapping used by `semantic_layout` and `attentive_normalize` has
the layout of `an_flax.layers.AttentiveNorm`'s `params`:
  entity: {kernel: (1, 1, C, n)}            entity responses, no bias
  key, query: {kernel: (1, 1, C, C/8), bias: (C/8,)}
  value: {kernel: (1, 1, C, C), bias: (C,)}
  alpha: (n,)   rho: ()   [scale, bias: (n, C) when the affine is used]
"""

import functools
from typing import Literal, Mapping, NamedTuple, Optional, Tuple

import jax
import jax.numpy as jnp

Array = jax.Array
Sampling = Literal["per_example", "batch_shared"]
PenaltyForm = Literal["frobenius", "released"]


def conv1x1(x: Array, params: Mapping[str, Array]) -> Array:
  """A 1x1 convolution from a {kernel[, bias]} mapping, in x's dtype."""
  kernel = params["kernel"].reshape(params["kernel"].shape[-2:]).astype(x.dtype)
  y = jnp.einsum("...c,cd->...d", x, kernel)
  if "bias" in params:
    y = y + params["bias"].astype(x.dtype)
  return y


def _released_gain_and_offset(v: Array, s: Array, eps: float) -> Tuple[Array, Array]:
  """The released TF code's statistics as an affine map per region: (gain, offset).

  mean = mean_p(S V) / m and std = sqrt(sum_p (S V - mean)^2 / m), expanded so
  that no (P, C, n) tensor is needed; the output is (V - mean) / (std + eps).
  """
  mass = jnp.sum(s, axis=1)[..., None] + eps  # (N, n, 1)
  num_positions = v.shape[1]
  weighted_sum = _region_sums(s, v)
  mean = weighted_sum / (num_positions * mass)
  squares = (_region_sums(s * s, v * v)
             - 2.0 * mean * weighted_sum + num_positions * mean * mean)
  gain = 1.0 / (jnp.sqrt(jnp.maximum(squares, 0.0) / mass) + eps)
  return gain, -mean * gain


class _RegionStatistics(NamedTuple):
  """Weighted region statistics of V in coordinates shifted by a per-channel constant.

  shift: (N, 1, C), the mean of V over positions; V' = V - shift keeps the
    moments well conditioned when |mean| >> std (the statistics are invariant to it).
  mass: (N, n, 1), m_k = sum_p S_pk + eps.
  mean: (N, n, C), mu_k - shift with mu_k = sum_p S_pk V_p / m_k.
  variance: (N, n, C), sum_p (S_pk / m_k) (V_p - mu_k)^2, unclamped.
  gain: (N, n, C), 1 / sqrt(max(variance, 0) + eps).
  """
  shift: Array
  mass: Array
  mean: Array
  variance: Array
  gain: Array


def _region_statistics(v: Array, s: Array, eps: float) -> _RegionStatistics:
  shift = jnp.mean(v, axis=1, keepdims=True)
  centred = v - shift
  mass = jnp.sum(s, axis=1)[..., None] + eps
  first_moment = _region_sums(s, centred) / mass
  second_moment = _region_sums(s, centred * centred) / mass
  # The eps in m makes the region weights sum to 1 - eps/m, hence the shift
  # term in the mean and the weighted variance written out exactly.
  mean = first_moment - shift * (eps / mass)
  variance = second_moment - 2.0 * mean * first_moment + (1.0 - eps / mass) * mean * mean
  gain = jax.lax.rsqrt(jnp.maximum(variance, 0.0) + eps)
  return _RegionStatistics(shift, mass, mean, variance, gain)


# Products over positions stay one (P x C) operand each: concatenating operands
# into (P x 2C) or wider ones is slower once they outgrow the CPU's cache.
def _region_sums(s: Array, x: Array) -> Array:
  """sum_p S_pk x_pc: (N, P, n), (N, P, C) -> (N, n, C)."""
  return jnp.einsum("npk,npc->nkc", s, x)


def _pixel_maps(s: Array, per_region: Array) -> Array:
  """sum_k S_pk a_kc: (N, P, n), (N, n, C) -> (N, P, C)."""
  return jnp.einsum("npk,nkc->npc", s, per_region)


def _region_responses(x: Array, per_region: Array) -> Array:
  """sum_c x_pc a_kc: (N, P, C), (N, n, C) -> (N, P, n)."""
  return jnp.einsum("npc,nkc->npk", x, per_region)


def _apply_regions(centred: Array, s: Array, gain: Array, offset: Array) -> Array:
  """sum_k S_k (V' g_k + o_k) = V' (S g) + S o."""
  return centred * _pixel_maps(s, gain) + _pixel_maps(s, offset)


def _statistics_dtype(values: Array) -> jnp.dtype:
  """float32, or float64 for float64 inputs (gradient checks)."""
  return jnp.promote_types(values.dtype, jnp.float32)


def _vary_alike(*arrays: Array) -> Tuple[Array, ...]:
  """Inside `shard_map`: every array cast to vary over all the mesh axes any of them
  varies over. A custom VJP must return each cotangent with its input's type; casting
  first lets autodiff sum the cotangent of an invariant input (the affine, constants)
  over those axes, as it would without the custom rule. Outside: the arrays unchanged."""
  varying = lambda a: jax.typeof(a).mat.varying  # the manual axes `a` varies over
  axes = frozenset().union(*map(varying, arrays))
  return tuple(jax.lax.pcast(a, tuple(sorted(axes - varying(a))), to="varying")
               if axes - varying(a) else a for a in arrays)


@functools.partial(jax.custom_vjp, nondiff_argnums=(4,))
def _weighted_normalize(v: Array, s: Array, scale: Array, bias: Array, eps: float) -> Array:
  """sum_k S_k (gamma_k (V - mu_k) / sqrt(var_k + eps) + beta_k) on (N, P, C) / (N, P, n).

  The backward pass is written by hand (`_weighted_normalize_bwd`), as no library
  provides it: closed-form gradients in a few (P x C) products, about 2x faster
  than JAX's autodiff of this forward on CPU (`python -m benchmarks.normalize_backward`),
  and never an (N, P, C, n) tensor.
  """
  return _weighted_normalize_fwd(v, s, scale, bias, eps)[0]


def _weighted_normalize_fwd(v, s, scale, bias, eps):
  dtype = _statistics_dtype(v)
  v32, s32 = v.astype(dtype), s.astype(dtype)
  stats = _region_statistics(v32, s32, eps)
  scaled_gain = stats.gain * scale.astype(dtype)
  out = _apply_regions(v32 - stats.shift, s32, scaled_gain,
                       bias.astype(dtype) - stats.mean * scaled_gain)
  return out.astype(v.dtype), (v, s, scale, bias, stats)


def _weighted_normalize_bwd(eps, residuals, d_out):
  """Closed-form gradients. With x_pk = V_p - mu_k, g~ = gain * gamma, w_pk = S_pk / m_k:

    dL/dgain_k = gamma_k sum_p S_pk dy_p x_pk,   dL/dvar_k = -gain_k^3 dL/dgain_k / 2,
    dL/dmu_k = -g~_k sum_p S_pk dy_p - 2 dL/dvar_k mu_k eps / m_k   (sum_p w_pk x_pk),
    dV_p = dy_p sum_k S_pk g~_k + sum_k w_pk (2 dL/dvar_k x_pk + dL/dmu_k),
    dS_pk = dy_p . (x_pk g~_k + beta_k) + (dL/dmu_k . x_pk + dL/dvar_k . (x_pk^2 - var_k)) / m_k,
  every sum over k or p a matrix product; x is expanded in shifted coordinates.
  """
  v, s, scale, bias, stats = residuals
  dtype = stats.gain.dtype
  v32, s32, dy = v.astype(dtype), s.astype(dtype), d_out.astype(dtype)
  gamma, beta = scale.astype(dtype), bias.astype(dtype)
  centred = v32 - stats.shift
  mean, mass, gain = stats.mean, stats.mass, stats.gain
  dy_sum = _region_sums(s32, dy)
  dy_x_sum = _region_sums(s32, dy * centred) - mean * dy_sum  # sum_p S_pk dy_p x_pk
  scaled_gain = gain * gamma
  d_var = jnp.where(stats.variance > 0.0, -0.5 * gain ** 3 * gamma * dy_x_sum, 0.0)
  d_mean = -scaled_gain * dy_sum - 2.0 * d_var * (mean + stats.shift) * (eps / mass)
  d_mean_shifted = (d_mean - 2.0 * d_var * mean) / mass
  d_v = (dy * _pixel_maps(s32, scaled_gain)
         + _apply_regions(centred, s32, 2.0 * d_var / mass, d_mean_shifted))
  d_s = (_region_responses(dy * centred, scaled_gain)
         + _region_responses(dy, beta - mean * scaled_gain)
         + _region_responses(centred, d_mean_shifted)
         + _region_responses(centred * centred, d_var / mass)
         + (jnp.sum(d_var * (mean * mean - stats.variance) - d_mean * mean, axis=-1)
            / mass[..., 0])[:, None, :])
  d_scale = jnp.sum(gain * dy_x_sum, axis=0)
  d_bias = jnp.sum(dy_sum, axis=0)
  return (d_v.astype(v.dtype), d_s.astype(s.dtype), d_scale.astype(scale.dtype),
          d_bias.astype(bias.dtype))


_weighted_normalize.defvjp(_weighted_normalize_fwd, _weighted_normalize_bwd)


def regional_normalize(
    values: Array,
    layout: Array,
    eps: float = 1e-5,
    *,
    scale: Optional[Array] = None,
    bias: Optional[Array] = None,
    released_statistics: bool = False,
) -> Array:
  """Regional normalisation: sum_k S_k (V - mu_k) / sqrt(var_k + eps).

  Args:
    values: V, (N, H, W, C).
    layout: soft layout S, (N, H, W, n), summing to 1 over n.
    eps: added to each region's mass and variance. The released code uses
      1e-7; 1e-5 is the float32/bfloat16-safe default.
    scale, bias: optional per-region affine (gamma_k, beta_k), each (n, C),
      applied inside the sum.
    released_statistics: reproduce the released TF code's statistics (a mean
      divided by an extra H*W and the "std" of S*V, see `_released_gain_and_offset`).

  Returns:
    Xbar, (N, H, W, C) in the dtype of `values`. Statistics are float32 (float64
    for float64 values). Differentiable in reverse mode (a custom VJP).
  """
  n, h, w, c = values.shape
  num_entities = layout.shape[-1]
  v = values.reshape(n, h * w, c)
  s = layout.reshape(n, h * w, num_entities)
  if released_statistics:
    v32, s32 = v.astype(jnp.float32), s.astype(jnp.float32)
    gain, offset = _released_gain_and_offset(v32, s32, eps)
    if scale is not None:
      gain, offset = gain * scale, offset * scale
    if bias is not None:
      offset = offset + bias
    out = _apply_regions(v32, s32, gain, offset)
  else:
    dtype = _statistics_dtype(values)
    scale = jnp.ones((num_entities, c), dtype) if scale is None else scale
    bias = jnp.zeros((num_entities, c), dtype) if bias is None else bias
    out = _weighted_normalize(*_vary_alike(v, s, scale, bias), eps)
  return out.reshape(n, h, w, c).astype(values.dtype)


def sample_positions(
    rng: Array, batch_size: int, num_positions: int, num_samples: int,
    sampling: Sampling = "per_example",
) -> Array:
  """Flat indices (batch_size, num_samples) of the sampled key positions.

  "per_example": each example draws its own positions without replacement.
  "batch_shared": one draw with replacement shared by the batch (released code).
  """
  if sampling == "batch_shared":
    positions = jax.random.randint(rng, (num_samples,), 0, num_positions)
    return jnp.broadcast_to(positions, (batch_size, num_samples))
  if sampling != "per_example":
    raise ValueError(f"sampling must be 'per_example' or 'batch_shared', got {sampling!r}.")
  if num_positions < num_samples:
    raise ValueError(
        f"Cannot draw {num_samples} distinct key positions from {num_positions}: "
        "lower key_pool, lower num_entities, or use sampling='batch_shared'.")
  # The top-n of i.i.d. uniforms is a uniform subset without replacement, in
  # O(P) per example instead of the O(P log P) permutation of random.choice.
  _, positions = jax.lax.top_k(jax.random.uniform(rng, (batch_size, num_positions)), num_samples)
  return positions


def sampled_keys(x: Array, key_params: Mapping[str, Array], positions: Array,
                 key_pool: int) -> Array:
  """k(X) max-pooled over key_pool x key_pool windows, at the sampled windows: (N, n, c').

  Equal to `max_pool(conv1x1(x, key_params), key_pool)` gathered at `positions`
  (flat indices into the pooled map), but the key projection runs on the
  n * key_pool^2 pixels of the sampled windows instead of all H * W.
  """
  batch, _, width, channels = x.shape
  pooled_width = width // key_pool
  offsets = jnp.arange(key_pool)
  rows = (positions // pooled_width)[..., None, None] * key_pool + offsets[:, None]
  cols = (positions % pooled_width)[..., None, None] * key_pool + offsets
  pixels = (rows * width + cols).reshape(batch, -1)  # (N, n * key_pool^2)
  window_pixels = jnp.take_along_axis(x.reshape(batch, -1, channels), pixels[..., None], axis=1)
  keys = conv1x1(window_pixels, key_params)
  return jnp.max(keys.reshape(batch, positions.shape[1], key_pool * key_pool, -1), axis=2)


def semantic_layout(
    x: Array,
    params: Mapping[str, Array],
    *,
    kappa: float = 10.0,
    rng: Optional[Array] = None,
    key_pool: int = 2,
    sampling: Sampling = "per_example",
) -> Array:
  """Soft semantic layout S = softmax((f(X) + clip(alpha, 0, 1) F) / kappa).

  Self-sampling regularisation (the F term) is on exactly when `rng` is given
  (training); without it the layout is deterministic, as the authors evaluate.
  Returns S, (N, H, W, n), float32.
  """
  batch, height, width, channels = x.shape
  kernels = params["entity"]["kernel"].reshape(1, channels, -1).astype(jnp.float32)
  offsets = jnp.zeros((1, kernels.shape[-1]), jnp.float32)
  if rng is not None:
    num_pooled = (height // key_pool) * (width // key_pool)
    positions = sample_positions(rng, batch, num_pooled, kernels.shape[-1], sampling)
    keys = sampled_keys(x, params["key"], positions, key_pool).astype(jnp.float32)
    alpha = jnp.clip(params["alpha"].astype(jnp.float32), 0.0, 1.0)
    # F_pi = q(X)_p . k_i = X_p . (W_q k_i) + b_q . k_i: the query projection
    # folds into a per-example entity kernel, and the layout is one product.
    query_kernel = params["query"]["kernel"].reshape(channels, -1).astype(jnp.float32)
    query_bias = params["query"]["bias"].astype(jnp.float32)
    kernels = kernels + alpha * jnp.einsum("cd,nkd->nck", query_kernel, keys)
    offsets = alpha * jnp.einsum("d,nkd->nk", query_bias, keys)
  kernels = jnp.broadcast_to(kernels, (batch, *kernels.shape[1:]))
  logits = jnp.einsum("nhwc,nck->nhwk", x, kernels.astype(x.dtype),
                      preferred_element_type=jnp.float32)
  return jax.nn.softmax((logits + offsets[:, None, None, :]) / kappa, axis=-1)


def attentive_normalize(
    x: Array,
    params: Mapping[str, Array],
    *,
    kappa: float = 10.0,
    eps: float = 1e-5,
    rng: Optional[Array] = None,
    key_pool: int = 2,
    sampling: Sampling = "per_example",
    released_statistics: bool = False,
) -> Tuple[Array, Array]:
  """Y = X + rho * RN(V(X), S(X)). Returns (Y in x's dtype, layout S).

  rho multiplies the per-region affine (rho gamma_k, rho beta_k) instead of the
  output: the same Y, and rho's gradient then comes from the (n x C) affine
  gradients instead of a reduction over every pixel.
  """
  layout = semantic_layout(x, params, kappa=kappa, rng=rng, key_pool=key_pool, sampling=sampling)
  num_entities, channels = layout.shape[-1], x.shape[-1]
  rho = params["rho"].astype(jnp.float32)
  scale = params.get("scale", jnp.ones((num_entities, channels), jnp.float32))
  bias = params.get("bias", jnp.zeros((num_entities, channels), jnp.float32))
  normalized = regional_normalize(
      conv1x1(x, params["value"]), layout, eps,
      scale=rho * scale.astype(jnp.float32), bias=rho * bias.astype(jnp.float32),
      released_statistics=released_statistics)
  return x + normalized, layout


def orthogonal_penalty(entity_kernel: Array, form: PenaltyForm = "frobenius") -> Array:
  """Penalty on the entity matrix W (n x C), unweighted.

  "frobenius": ||W W^T - I||_F^2, the paper's orthogonality regulariser.
  "released": sum of the entries of W W^T - I, what the released code adds.
  """
  w = entity_kernel.reshape(-1, entity_kernel.shape[-1]).T.astype(jnp.float32)
  residual = w @ w.T - jnp.eye(w.shape[0], dtype=jnp.float32)
  if form == "frobenius":
    return jnp.sum(residual * residual)
  if form == "released":
    return jnp.sum(residual)
  raise ValueError(f"orthogonal penalty form must be 'frobenius' or 'released', got {form!r}.")
