"""Independent float64 numpy transcriptions of the AN equations (test oracle).

Written from the paper's equations and the released TF code, deliberately in
the naive form (materialising (N, H, W, n, C)) so they share no arithmetic with
`an_flax.functional`.
"""

import numpy as np


def softmax(x, axis=-1):
  e = np.exp(x - x.max(axis=axis, keepdims=True))
  return e / e.sum(axis=axis, keepdims=True)


def _at_least_float64(x):
  """x in float64, or complex128 for complex x (complex-step derivatives)."""
  x = np.asarray(x)
  return x.astype(np.result_type(x.dtype, np.float64))


def regional_normalize(values, layout, eps, scale=None, bias=None):
  """sum_k S_k (V - mu_k) / sqrt(var_k + eps), with the two-pass soft variance.

  Analytic in every input (no abs, max or conjugate), so complex inputs give
  complex-step derivatives.
  """
  v = _at_least_float64(values)
  s = _at_least_float64(layout)
  mass = s.sum(axis=(1, 2)) + eps                                   # (N, n)
  mean = np.einsum("nhwk,nhwc->nkc", s, v) / mass[..., None]        # (N, n, C)
  residual = v[:, :, :, None, :] - mean[:, None, None]              # (N, H, W, n, C)
  var = np.einsum("nhwk,nhwkc->nkc", s, residual ** 2) / mass[..., None]
  normed = residual / np.sqrt(var + eps)[:, None, None]
  if scale is not None:
    normed = normed * _at_least_float64(scale) + _at_least_float64(bias)
  return np.einsum("nhwk,nhwkc->nhwc", s, normed)


def released_regional_normalize(values, layout, eps):
  """The released TF code's `att_normalization` statistics, line by line."""
  xv = np.asarray(values, np.float64)
  layout_expand = np.asarray(layout, np.float64)[..., None, :]          # b h w 1 n
  cnt = layout_expand.sum(axis=(1, 2), keepdims=True) + eps
  xv_expand = np.repeat(xv[..., None], layout_expand.shape[-1], -1)     # b h w c n
  hot_area = xv_expand * layout_expand
  xv_mean = hot_area.mean(axis=(1, 2), keepdims=True) / cnt
  xv_std = np.sqrt(((hot_area - xv_mean) ** 2).sum(axis=(1, 2), keepdims=True) / cnt)
  return ((xv_expand - xv_mean) / (xv_std + eps) * layout_expand).sum(axis=-1)


def conv1x1(x, p):
  kernel = np.asarray(p["kernel"], np.float64)[0, 0]
  y = np.asarray(x, np.float64) @ kernel
  return y + np.asarray(p["bias"], np.float64) if "bias" in p else y


def max_pool(x, window):
  n, h, w, c = x.shape
  h2, w2 = h // window, w // window
  x = x[:, :h2 * window, :w2 * window]
  return x.reshape(n, h2, window, w2, window, c).max(axis=(2, 4))


def layout(x, params, kappa, positions=None, key_pool=2):
  """Soft layout; SSR term when the sampled `positions` (N, n) are given."""
  logits = conv1x1(x, params["entity"])
  if positions is not None:
    queries = conv1x1(x, params["query"])
    keys = max_pool(conv1x1(x, params["key"]), key_pool)
    n = keys.shape[0]
    sampled = keys.reshape(n, -1, keys.shape[-1])[np.arange(n)[:, None], np.asarray(positions)]
    activations = np.einsum("nhwc,nkc->nhwk", queries, sampled)
    logits = logits + np.clip(np.asarray(params["alpha"], np.float64), 0, 1) * activations
  return softmax(logits / kappa)


def attentive_normalize(x, params, kappa, eps, positions=None, key_pool=2, released=False):
  s = layout(x, params, kappa, positions, key_pool)
  v = conv1x1(x, params["value"])
  if released:
    normed = released_regional_normalize(v, s, eps)
  else:
    normed = regional_normalize(v, s, eps, params.get("scale"), params.get("bias"))
  return np.asarray(x, np.float64) + float(params["rho"]) * normed, s


def orthogonal_penalty(entity_kernel, form):
  w = np.asarray(entity_kernel, np.float64)[0, 0].T                # (n, C)
  residual = w @ w.T - np.eye(w.shape[0])
  return (residual ** 2).sum() if form == "frobenius" else residual.sum()
