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


def _gradient_case(rng, case):
  """(values (N,H,W,C), layout, scale, bias) for one gradient test case, float64."""
  shape, num_entities = (2, 6, 5, 3), 4
  layout = _random_layout(rng, shape[:3] + (num_entities,))
  values = rng.standard_normal(shape) + rng.standard_normal((2, 1, 1, 3))
  scale = 1.0 + 0.3 * rng.standard_normal((num_entities, 3))
  bias = 0.3 * rng.standard_normal((num_entities, 3))
  if case == "large_mean":  # |mean| >> std: the shifted statistics carry the gradient
    values = 1e3 + 1e-2 * values
  if case == "almost_empty_region":
    layout[..., 3] *= 1e-6
    layout /= layout.sum(-1, keepdims=True)
  return values, layout, scale, bias


@pytest.mark.parametrize("case", ["plain", "large_mean", "almost_empty_region"])
def test_regional_normalize_gradients_match_complex_step_derivatives_of_numpy(case):
  """The hand-written VJP in float64 against complex-step derivatives of the numpy oracle
  (Im f(x + i h d) / h: no difference of nearby values, so exact to float64 rounding even
  where finite differences lose digits, as V - mu does at |mean| = 1e3), along fresh
  random directions, for values, layout, scale and bias. Tolerance 1e-9 of |grad| |d|;
  1e-6 at |mean| = 1e3, where float64 keeps fewer digits of V - mu. Then float32
  gradients against float64 ones at the same float32-rounded inputs (1e-3 of the largest
  entry)."""
  rng = np.random.default_rng()
  inputs = _gradient_case(rng, case)
  cotangent = rng.standard_normal(inputs[0].shape)
  eps = 1e-5

  def gradients(dtype, inputs):
    loss = lambda *args: jnp.vdot(
        functional.regional_normalize(args[0], args[1], eps, scale=args[2], bias=args[3]),
        jnp.asarray(cotangent, dtype))
    with jax.enable_x64(True):
      grads = jax.grad(loss, argnums=(0, 1, 2, 3))(*(jnp.asarray(x, dtype) for x in inputs))
      return [np.asarray(g, np.float64) for g in grads]

  exact = gradients(jnp.float64, inputs)
  step, tolerance = 1e-20, (1e-6 if case == "large_mean" else 1e-9)
  for index, grad in enumerate(exact):
    direction = rng.standard_normal(inputs[index].shape)
    stepped = list(inputs)
    stepped[index] = inputs[index] + 1j * step * direction
    numerical = np.sum(an_reference.regional_normalize(*stepped[:2], eps, *stepped[2:])
                       * cotangent).imag / step
    allowed = tolerance * np.linalg.norm(grad) * np.linalg.norm(direction)
    assert np.vdot(grad, direction) == pytest.approx(numerical, rel=0, abs=allowed), index
  rounded = [x.astype(np.float32).astype(np.float64) for x in inputs]
  for grad32, grad in zip(gradients(jnp.float32, rounded), gradients(jnp.float64, rounded)):
    np.testing.assert_allclose(grad32, grad, atol=1e-3 * np.abs(grad).max(), rtol=0)


def test_gradients_inside_shard_map_equal_the_unsharded_ones():
  """Batch split over 8 devices with a replicated affine: the hand-written VJP composes
  with shard_map (the affine's gradient is summed over devices). float32, 1e-5."""
  from jax.sharding import PartitionSpec as P
  rng = np.random.default_rng()
  mesh = jax.sharding.Mesh(jax.devices(), ("data",))
  values = jnp.asarray(rng.standard_normal((8, 4, 4, 8)), jnp.float32)
  layout = jnp.asarray(_random_layout(rng, (8, 4, 4, 3)), jnp.float32)
  scale = jnp.asarray(1 + 0.3 * rng.standard_normal((3, 8)), jnp.float32)
  bias = jnp.asarray(0.3 * rng.standard_normal((3, 8)), jnp.float32)
  cotangent = jnp.asarray(rng.standard_normal(values.shape), jnp.float32)

  def loss(v, s, gamma, beta, cot):
    return jnp.vdot(functional.regional_normalize(v, s, scale=gamma, bias=beta), cot)

  expected = jax.grad(loss, argnums=(0, 1, 2, 3))(values, layout, scale, bias, cotangent)
  sharded_loss = lambda *args: jax.lax.psum(loss(*args), "data")
  grads = jax.jit(jax.shard_map(
      jax.grad(sharded_loss, argnums=(0, 1, 2, 3)), mesh=mesh,
      in_specs=(P("data"), P("data"), P(), P(), P("data")),
      out_specs=(P("data"), P("data"), P(), P())))(values, layout, scale, bias, cotangent)
  for got, want in zip(grads, expected):
    np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=1e-5, atol=1e-5)


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


def _output_sizes(jaxpr) -> list:
  """Element counts of every intermediate of a jaxpr, nested jaxprs included."""
  sizes = []
  for eqn in jaxpr.eqns:
    sizes += [int(np.prod(var.aval.shape)) for var in eqn.outvars]
    for param in eqn.params.values():
      for sub in param if isinstance(param, (tuple, list)) else (param,):
        sub = getattr(sub, "jaxpr", sub)  # ClosedJaxpr -> Jaxpr
        if hasattr(sub, "eqns"):
          sizes += _output_sizes(sub)
  return sizes


def test_never_builds_a_values_times_entities_tensor():
  """Forward and backward (the hand-written VJP), both statistics forms."""
  n, h, w, c, k = 2, 8, 8, 12, 5
  values = jnp.zeros((n, h, w, c))
  layout = jnp.full((n, h, w, k), 1.0 / k)
  for released in (False, True):
    normalize = lambda v, s: functional.regional_normalize(v, s, released_statistics=released)
    gradient = jax.grad(lambda v, s: jnp.sum(normalize(v, s) ** 2), argnums=(0, 1))
    for fn in (normalize, gradient):
      sizes = _output_sizes(jax.make_jaxpr(fn)(values, layout).jaxpr)
      assert len(sizes) > 10 and max(sizes) < n * h * w * c * k / 2, max(sizes)


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


@pytest.mark.parametrize("key_pool", [1, 2, 3])
def test_sampled_keys_equal_pooled_keys_at_the_positions(key_pool):
  """Keys projected at the sampled windows only equal the whole pooled key map
  gathered there, for every window of a map the windows do not tile."""
  rng = np.random.default_rng()
  x = rng.standard_normal((2, 7, 11, 6))
  params = {"kernel": rng.standard_normal((1, 1, 6, 3)), "bias": rng.standard_normal(3)}
  num_pooled = (7 // key_pool) * (11 // key_pool)
  positions = np.stack([rng.permutation(num_pooled) for _ in range(2)])  # every window
  pooled = an_reference.max_pool(an_reference.conv1x1(x, params), key_pool).reshape(2, num_pooled, 3)
  expected = np.take_along_axis(pooled, positions[..., None], axis=1)
  got = functional.sampled_keys(jnp.asarray(x, jnp.float32),
                                jax.tree.map(lambda a: jnp.asarray(a, jnp.float32), params),
                                jnp.asarray(positions), key_pool)
  np.testing.assert_allclose(np.asarray(got), expected, **TOL)


@pytest.mark.parametrize("form", ["frobenius", "released"])
def test_orthogonal_penalty(form):
  kernel = np.random.default_rng().standard_normal((1, 1, 12, 5))
  got = functional.orthogonal_penalty(jnp.asarray(kernel, jnp.float32), form)
  np.testing.assert_allclose(float(got), an_reference.orthogonal_penalty(kernel, form), rtol=1e-5)
  orthonormal = np.linalg.qr(np.random.default_rng().standard_normal((12, 5)))[0]
  assert abs(float(functional.orthogonal_penalty(jnp.asarray(orthonormal[None, None], jnp.float32)))) < 1e-5
