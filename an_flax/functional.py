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

from typing import Literal, Mapping, Optional, Tuple

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


def _region_gain_and_offset(
    values: Array, layout: Array, eps: float, released_statistics: bool
) -> Tuple[Array, Array, Array]:
  """Per-region normalisation as an affine map: Xbar = sum_k S_k (V' g_k + o_k).

  Returns (V', g, o) with V' = V - shift of shape (N, P, C) and g, o of shape
  (N, n, C). The shift is a per-example, per-channel constant that makes the
  second moment well conditioned when |mean| >> std; the weighted statistics
  are invariant to it.
  """
  v = values.astype(jnp.float32)
  s = layout.astype(jnp.float32)
  mass = jnp.sum(s, axis=1)[..., None] + eps  # (N, n, 1)
  if released_statistics:
    # The released TF code: mean = mean_p(S V) / m and
    # std = sqrt(sum_p (S V - mean)^2 / m), expanded so that no (P, C, n)
    # tensor is needed; then (V - mean) / (std + eps).
    num_positions = v.shape[1]
    weighted_sum = jnp.einsum("npk,npc->nkc", s, v)
    mean = weighted_sum / (num_positions * mass)
    squares = (jnp.einsum("npk,npc->nkc", s * s, v * v)
               - 2.0 * mean * weighted_sum + num_positions * mean * mean)
    gain = 1.0 / (jnp.sqrt(jnp.maximum(squares, 0.0) / mass) + eps)
    return v, gain, -mean * gain
  shift = jnp.mean(v, axis=1, keepdims=True)
  centred = v - shift
  first_moment = jnp.einsum("npk,npc->nkc", s, centred) / mass
  second_moment = jnp.einsum("npk,npc->nkc", s, centred * centred) / mass
  # mu = sum_p S V / m in shifted coordinates; the eps in m makes the region
  # weights sum to 1 - eps/m, hence the shift term and the weighted variance
  # sum_p (S/m) (V' - mu')^2 written out exactly.
  mean = first_moment - shift * (eps / mass)
  variance = second_moment - 2.0 * mean * first_moment + (1.0 - eps / mass) * mean * mean
  gain = jax.lax.rsqrt(jnp.maximum(variance, 0.0) + eps)
  return centred, gain, -mean * gain


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
      divided by an extra H*W and the "std" of S*V, see `_region_gain_and_offset`).

  Returns:
    Xbar, (N, H, W, C) in the dtype of `values`. Statistics are float32.
  """
  n, h, w, c = values.shape
  num_entities = layout.shape[-1]
  v = values.reshape(n, h * w, c)
  s = layout.reshape(n, h * w, num_entities).astype(jnp.float32)
  shifted, gain, offset = _region_gain_and_offset(v, s, eps, released_statistics)
  if scale is not None:
    gain = gain * scale.astype(jnp.float32)
    offset = offset * scale.astype(jnp.float32)
  if bias is not None:
    offset = offset + bias.astype(jnp.float32)
  # One (P x n)(n x 2C) product gives both per-pixel maps S g and S o.
  pixel_gain, pixel_offset = jnp.split(
      jnp.einsum("npk,nkc->npc", s, jnp.concatenate([gain, offset], -1)), 2, axis=-1)
  out = shifted * pixel_gain + pixel_offset
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


def self_sampling_activations(queries: Array, keys: Array, positions: Array) -> Array:
  """F[p, i] = q(X)_p . k(X)_{position i}: sampled keys as input-dependent entities.

  Args:
    queries: (N, H, W, c').
    keys: (N, h, w, c'), possibly pooled.
    positions: (N, n) flat indices into h * w.
  """
  n, _, _, c = keys.shape
  sampled = jnp.take_along_axis(keys.reshape(n, -1, c), positions[..., None], axis=1)
  return jnp.einsum("nhwc,nkc->nhwk", queries, sampled, preferred_element_type=jnp.float32)


def max_pool(x: Array, window: int) -> Array:
  """Non-overlapping window x window max-pool of an NHWC map (window 1: identity)."""
  if window <= 1:
    return x
  return jax.lax.reduce_window(
      x, -jnp.inf, jax.lax.max, (1, window, window, 1), (1, window, window, 1), "VALID")


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
  logits = conv1x1(x, params["entity"]).astype(jnp.float32)
  if rng is not None:
    queries = conv1x1(x, params["query"])
    keys = max_pool(conv1x1(x, params["key"]), key_pool)
    positions = sample_positions(
        rng, x.shape[0], keys.shape[1] * keys.shape[2], logits.shape[-1], sampling)
    alpha = jnp.clip(params["alpha"].astype(jnp.float32), 0.0, 1.0)
    logits = logits + alpha * self_sampling_activations(queries, keys, positions)
  return jax.nn.softmax(logits / kappa, axis=-1)


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
  """Y = X + rho * RN(V(X), S(X)). Returns (Y in x's dtype, layout S)."""
  layout = semantic_layout(x, params, kappa=kappa, rng=rng, key_pool=key_pool, sampling=sampling)
  normalized = regional_normalize(
      conv1x1(x, params["value"]), layout, eps,
      scale=params.get("scale"), bias=params.get("bias"),
      released_statistics=released_statistics)
  return x + params["rho"].astype(x.dtype) * normalized, layout


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
