"""Pure AN math against the float64 numpy oracle, and its numerical properties."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import an_reference
from an_flax import functional

# float32 statistics against float64: 1e-4 relative/absolute on O(1) outputs.
TOL = dict(rtol=1e-4, atol=1e-4)


def _random_layout(rng, shape, sharpness=3.0):
  return an_reference.softmax(sharpness * rng.standard_normal(shape))


@pytest.mark.parametrize("affine", [False, True])
def test_regional_normalize_matches_numpy(affine):
  rng = np.random.default_rng()
  values = rng.standard_normal((2, 6, 5, 8)) * 3 + rng.standard_normal(8)
  layout = _random_layout(rng, (2, 6, 5, 4))
  scale = rng.standard_normal((4, 8)) if affine else None
  bias = rng.standard_normal((4, 8)) if affine else None
  expected = an_reference.regional_normalize(values, layout, 1e-5, scale, bias)
  got = functional.regional_normalize(
      jnp.asarray(values, jnp.float32), jnp.asarray(layout, jnp.float32), 1e-5,
      scale=None if scale is None else jnp.asarray(scale, jnp.float32),
      bias=None if bias is None else jnp.asarray(bias, jnp.float32))
  np.testing.assert_allclose(np.asarray(got), expected, **TOL)


def test_released_statistics_match_released_code_transcription():
  rng = np.random.default_rng()
  values = rng.standard_normal((2, 6, 6, 8)) + 0.5
  layout = _random_layout(rng, (2, 6, 6, 4))
  expected = an_reference.released_regional_normalize(values, layout, 1e-7)
  got = functional.regional_normalize(
      jnp.asarray(values, jnp.float32), jnp.asarray(layout, jnp.float32), 1e-7,
      released_statistics=True)
  np.testing.assert_allclose(np.asarray(got), expected, rtol=1e-4, atol=1e-4)
  # And it really differs from the paper's statistics.
  assert not np.allclose(expected, an_reference.regional_normalize(values, layout, 1e-7), atol=1e-2)


def test_hard_layout_gives_zero_mean_unit_variance_per_region():
  rng = np.random.default_rng()
  n, h, w, c, k = 2, 8, 8, 5, 3
  labels = rng.integers(0, k, (n, h, w))
  labels[:, :k, 0] = np.arange(k)  # every region non-empty
  layout = np.eye(k)[labels]
  values = rng.standard_normal((n, h, w, c)) * 4 + 2
  out = np.asarray(functional.regional_normalize(
      jnp.asarray(values, jnp.float32), jnp.asarray(layout, jnp.float32), 1e-6), np.float64)
  for b in range(n):
    for region in range(k):
      pixels = out[b][labels[b] == region]
      if len(pixels) < 2:
        continue
      np.testing.assert_allclose(pixels.mean(0), 0.0, atol=1e-4)
      np.testing.assert_allclose(pixels.var(0), 1.0, atol=1e-3)


def test_single_entity_is_instance_norm():
  rng = np.random.default_rng()
  values = rng.standard_normal((3, 7, 5, 6)) * 2 - 1
  layout = np.ones((3, 7, 5, 1))
  mean = values.mean(axis=(1, 2), keepdims=True)
  var = values.var(axis=(1, 2), keepdims=True)
  eps = 1e-5
  # The region mass is HW + eps: the instance-norm formula with that count.
  hw = 7 * 5
  var_with_mass = var * hw / (hw + eps) + mean ** 2 * (hw / (hw + eps) - (hw / (hw + eps)) ** 2)
  expected = (values - mean * hw / (hw + eps)) / np.sqrt(var_with_mass + eps)
  got = functional.regional_normalize(jnp.asarray(values, jnp.float32), jnp.asarray(layout, jnp.float32), eps)
  np.testing.assert_allclose(np.asarray(got), expected, **TOL)
  instance_norm = (values - mean) / np.sqrt(var + eps)
  np.testing.assert_allclose(np.asarray(got), instance_norm, atol=1e-4)


def test_stable_when_mean_is_large_against_spread():
  rng = np.random.default_rng()
  values = 1e3 * np.sign(rng.standard_normal(8)) + 1e-2 * rng.standard_normal((2, 8, 8, 8))
  values = values.astype(np.float32)  # the oracle sees exactly the float32 input
  layout = _random_layout(rng, (2, 8, 8, 4))
  expected = an_reference.regional_normalize(values, layout, 1e-5)
  got = functional.regional_normalize(jnp.asarray(values), jnp.asarray(layout, jnp.float32), 1e-5)
  assert np.abs(expected).max() > 0.5  # the output is O(1), not swamped by eps
  np.testing.assert_allclose(np.asarray(got), expected, rtol=1e-3, atol=1e-3)


def test_region_without_mass_stays_finite_and_bounded():
  rng = np.random.default_rng()
  layout = _random_layout(rng, (2, 8, 8, 4))
  layout[..., 3] = 1e-30  # an almost empty region
  layout /= layout.sum(-1, keepdims=True)
  values = rng.standard_normal((2, 8, 8, 8)).astype(np.float32)
  out = functional.regional_normalize(jnp.asarray(values), jnp.asarray(layout, jnp.float32), 1e-5)
  grad = jax.grad(lambda v: functional.regional_normalize(v, jnp.asarray(layout, jnp.float32)).sum())(
      jnp.asarray(values))
  assert np.isfinite(np.asarray(out)).all() and np.isfinite(np.asarray(grad)).all()
  # Each output is a convex combination of per-region standardised values:
  # |V - mu| / sqrt(var + eps) <= 2 max|V| / sqrt(eps).
  assert np.abs(np.asarray(out)).max() < 2 * np.abs(values).max() / np.sqrt(1e-5)


def test_statistics_are_float32_for_bfloat16_inputs():
  rng = np.random.default_rng()
  values = rng.standard_normal((2, 8, 8, 8)) * 2 + 1
  layout = _random_layout(rng, (2, 8, 8, 4))
  expected = an_reference.regional_normalize(
      np.asarray(jnp.asarray(values, jnp.bfloat16), np.float64), layout, 1e-5)
  got = functional.regional_normalize(jnp.asarray(values, jnp.bfloat16), jnp.asarray(layout, jnp.bfloat16))
  assert got.dtype == jnp.bfloat16
  # bfloat16 has 8 significant bits: the output rounding alone is ~0.4% relative,
  # and the layout is rounded to bfloat16 too.
  np.testing.assert_allclose(np.asarray(got, np.float64), expected, rtol=0.05, atol=0.05)


def test_never_builds_a_values_times_entities_tensor():
  n, h, w, c, k = 2, 8, 8, 12, 5
  values = jnp.zeros((n, h, w, c))
  layout = jnp.full((n, h, w, k), 1.0 / k)
  for released in (False, True):
    jaxpr = jax.make_jaxpr(lambda v, s: functional.regional_normalize(
        v, s, released_statistics=released))(values, layout)
    sizes = [np.prod(var.aval.shape) for eqn in jaxpr.eqns for var in eqn.outvars]
    assert max(sizes) < n * h * w * c * k / 2, max(sizes)


def test_sample_positions():
  rng = jax.random.PRNGKey(np.random.default_rng().integers(1 << 31))
  positions = np.asarray(functional.sample_positions(rng, 6, 20, 16))
  assert positions.shape == (6, 16) and positions.min() >= 0 and positions.max() < 20
  assert all(len(set(row)) == 16 for row in positions)  # without replacement
  assert len({tuple(row) for row in positions}) > 1     # per example
  shared = np.asarray(functional.sample_positions(rng, 6, 20, 16, "batch_shared"))
  assert (shared == shared[0]).all()
  with pytest.raises(ValueError, match="key_pool"):
    functional.sample_positions(rng, 2, 8, 16)


@pytest.mark.parametrize("form", ["frobenius", "released"])
def test_orthogonal_penalty(form):
  kernel = np.random.default_rng().standard_normal((1, 1, 12, 5))
  got = functional.orthogonal_penalty(jnp.asarray(kernel, jnp.float32), form)
  np.testing.assert_allclose(float(got), an_reference.orthogonal_penalty(kernel, form), rtol=1e-5)
  orthonormal = np.linalg.qr(np.random.default_rng().standard_normal((12, 5)))[0]
  assert abs(float(functional.orthogonal_penalty(jnp.asarray(orthonormal[None, None], jnp.float32)))) < 1e-5
