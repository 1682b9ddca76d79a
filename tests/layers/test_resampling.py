"""The 3x3 convolutions fused with 2x upsampling or 2x2 average pooling, computed at the
lower resolution, equal the unfused pair, in values and gradients."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from an_flax.layers import SNConv
from an_flax.layers.resampling import (
    avg_pool, pooled_conv3x3, upsample_nearest, upsampled_conv3x3)


def _conv(x, kernel):
  return jax.lax.conv_general_dilated(x, kernel, (1, 1), "SAME",
                                      dimension_numbers=("NHWC", "HWIO", "NHWC"))


REFERENCES = {
    "up": (upsampled_conv3x3, lambda x, k: _conv(upsample_nearest(x), k)),
    "down": (pooled_conv3x3, lambda x, k: avg_pool(_conv(x, k))),
}


def _numpy_avg_pool(x):
  n, h, w, c = x.shape
  return x.reshape(n, h // 2, 2, w // 2, 2, c).mean(axis=(2, 4))


def test_avg_pool_and_upsample_are_the_textbook_operations():
  """Pooling against numpy in float64, to 1e-6 of the input's scale (a relative tolerance
  fails on means that cancel to near zero: float32 sums of four in another order)."""
  x = np.random.default_rng(0).normal(size=(2, 6, 4, 3)).astype(np.float32)
  np.testing.assert_allclose(avg_pool(x), _numpy_avg_pool(x.astype(np.float64)), rtol=0,
                             atol=1e-6 * np.abs(x).max())
  np.testing.assert_array_equal(upsample_nearest(x)[:, ::2, 1::2], x)
  np.testing.assert_array_equal(upsample_nearest(x)[:, 1::2, ::2], x)


@pytest.mark.parametrize("resample", REFERENCES)
@pytest.mark.parametrize("shape", [(2, 4, 4, 3), (3, 6, 8, 8)])
def test_values_and_gradients_equal_the_unfused_pair(resample, shape):
  """Reference: XLA's own 3x3 convolution with the upsampling / pooling around it;
  tolerance 1e-5 of the output's and the gradients' scale (float32 sums in another order)."""
  fused, reference = REFERENCES[resample]
  kx, kk, kg = jax.random.split(jax.random.PRNGKey(shape[1]), 3)
  x = jax.random.normal(kx, shape)
  kernel = jax.random.normal(kk, (3, 3, shape[-1], 6))
  expected = reference(x, kernel)
  np.testing.assert_allclose(fused(x, kernel), expected, rtol=0,
                             atol=1e-5 * float(jnp.abs(expected).max()))
  cotangent = jax.random.normal(kg, expected.shape)
  loss = lambda f: lambda x, k: jnp.sum(f(x, k) * cotangent)
  got = jax.grad(loss(fused), argnums=(0, 1))(x, kernel)
  want = jax.grad(loss(reference), argnums=(0, 1))(x, kernel)
  for g, w in zip(got, want):
    np.testing.assert_allclose(g, w, rtol=0, atol=1e-5 * float(jnp.abs(w).max()))


@pytest.mark.parametrize("resample", REFERENCES)
@pytest.mark.parametrize("spectral", [False, True])
def test_sn_conv_resampling_equals_the_unfused_layer_with_the_same_params(resample, spectral):
  x = jax.random.normal(jax.random.PRNGKey(0), (2, 4, 4, 8))
  plain, fused = SNConv(5, spectral=spectral), SNConv(5, spectral=spectral, resample=resample)
  plain_input = upsample_nearest(x) if resample == "up" else x
  variables = plain.init(jax.random.PRNGKey(1), plain_input)
  assert jax.tree.structure(fused.init(jax.random.PRNGKey(1), x)) == jax.tree.structure(
      variables)
  expected, _ = plain.apply(variables, plain_input, train=True, mutable=["spectral"])
  if resample == "down":
    expected = avg_pool(expected)
  got, _ = fused.apply(variables, x, train=True, mutable=["spectral"])
  np.testing.assert_allclose(got, expected, rtol=0, atol=1e-5)
  with pytest.raises(ValueError, match="3x3 'SAME'"):
    SNConv(5, (1, 1), resample=resample).init(jax.random.PRNGKey(0), x)
