"""Attentive Normalization as a linen module (parameters + the pure function)."""

from typing import Any, Callable, Optional

import flax.linen as nn
import jax
import jax.numpy as jnp

from an_flax import functional

Initializer = Callable[..., jax.Array]


def _conv1x1_init(in_features: int, out_features: int, use_bias: bool,
                  kernel_init: Initializer, dtype: Any) -> Callable[[jax.Array], dict]:
  """Initialiser of a {kernel[, bias]} mapping laid out like `nn.Conv`'s params."""
  def init(rng: jax.Array) -> dict:
    params = {"kernel": kernel_init(rng, (1, 1, in_features, out_features), dtype)}
    if use_bias:
      params["bias"] = jnp.zeros((out_features,), dtype)
    return params
  return init


class AttentiveNorm(nn.Module):
  """Attentive Normalization: Y = X + rho * sum_k S_k (V - mu_k) / sigma_k.

  The soft layout S comes from n learned entities plus, in training,
  self-sampled keys (the SSR regulariser); V is a 1x1 projection of X and
  (mu_k, sigma_k) are V's statistics in region k. `rho` starts at 0, so the
  module starts as the identity.

  Call as `apply(variables, x, train=...)`. `train=True` needs the PRNG stream
  'sampling'; `train=False` is deterministic. The layout (N, H, W, n) is sown
  into `intermediates/layout` and the unweighted orthogonality penalty into
  `losses/orthogonal`.

  Attributes:
    num_entities: n, the number of semantic entities.
    kappa: softmax temperature divisor (10 = temperature 0.1 in the paper).
    key_pool: max-pool window on k(X) before sampling (the paper pools; the
      released code does not: use 1).
    sampling: "per_example" without replacement, or "batch_shared" (one draw
      with replacement for the batch, as the released code).
    affine: learn a per-region scale and bias, each (n, C).
    eps: added to region masses and variances (released code: 1e-7).
    released_statistics: reproduce the released TF code's region mean and
      "std" exactly (no mean-centring, std of S*V). Off by default: it is a
      defect of that code, kept for reproducing its numbers.
    orthogonal_form: "frobenius" (paper) or "released" (sum of W W^T - I).
    entity_init: initialiser of the (1, 1, C, n) entity kernel (released code:
      N(0, 1)).
    dtype: computation dtype of the projections (statistics are float32).
    param_dtype: parameter dtype.
  """

  num_entities: int = 16
  kappa: float = 10.0
  key_pool: int = 2
  sampling: functional.Sampling = "per_example"
  affine: bool = False
  eps: float = 1e-5
  released_statistics: bool = False
  orthogonal_form: functional.PenaltyForm = "frobenius"
  entity_init: Initializer = nn.initializers.normal(stddev=1.0)
  dtype: Optional[Any] = None
  param_dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
    channels = x.shape[-1]
    key_features = max(channels // 8, 1)
    glorot = nn.initializers.xavier_uniform()
    conv = lambda name, out, bias, init: self.param(
        name, _conv1x1_init(channels, out, bias, init, self.param_dtype))
    params = {
        "entity": conv("entity", self.num_entities, False, self.entity_init),
        "key": conv("key", key_features, True, glorot),
        "query": conv("query", key_features, True, glorot),
        "value": conv("value", channels, True, glorot),
        "alpha": self.param("alpha", nn.initializers.constant(0.1),
                            (self.num_entities,), self.param_dtype),
        "rho": self.param("rho", nn.initializers.zeros, (), self.param_dtype),
    }
    if self.affine:
      shape = (self.num_entities, channels)
      params["scale"] = self.param("scale", nn.initializers.ones, shape, self.param_dtype)
      params["bias"] = self.param("bias", nn.initializers.zeros, shape, self.param_dtype)

    compute_dtype = self.dtype or x.dtype
    y, layout = functional.attentive_normalize(
        x.astype(compute_dtype), params,
        kappa=self.kappa, eps=self.eps,
        rng=self.make_rng("sampling") if train else None,
        key_pool=self.key_pool, sampling=self.sampling,
        released_statistics=self.released_statistics)
    if self.is_initializing():  # keep `init`'s variables to params only
      return y
    self.sow("intermediates", "layout", layout)
    self.sow("losses", "orthogonal",
             functional.orthogonal_penalty(params["entity"]["kernel"], self.orthogonal_form))
    return y
