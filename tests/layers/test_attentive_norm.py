"""The AttentiveNorm module against the float64 oracle, and its properties."""

import flax
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import an_reference
from an_flax import functional
from an_flax.layers import AttentiveNorm

# float32 module against float64 oracle.
TOL = dict(rtol=1e-4, atol=1e-4)


def _seed():
  return int(np.random.default_rng().integers(1 << 31))


def _init(module, x, rho=0.7, alpha=None):
  """Fresh parameters with non-trivial rho and alpha (and affine, if any)."""
  rng = np.random.default_rng()
  params = flax.core.unfreeze(module.init(jax.random.PRNGKey(_seed()), x)["params"])
  params["rho"] = jnp.asarray(rho, jnp.float32)
  n = params["alpha"].shape[0]
  if alpha is None:
    # Values below 0 and above 1 exercise the clipping; the first stays inside (0, 1)
    # so that the self-sampling term is never clipped off for every entity.
    alpha = rng.uniform(-0.5, 1.5, n)
    alpha[0] = rng.uniform(0.2, 0.8)
  params["alpha"] = jnp.asarray(alpha, jnp.float32)
  if "scale" in params:
    params["scale"] = jnp.asarray(rng.standard_normal(params["scale"].shape), jnp.float32)
    params["bias"] = jnp.asarray(rng.standard_normal(params["bias"].shape), jnp.float32)
  return {"params": params}


def _input(shape=(2, 8, 8, 16)):
  return jnp.asarray(np.random.default_rng().standard_normal(shape), jnp.float32)


def _numpy_params(variables):
  return jax.tree.map(np.asarray, variables["params"])


@pytest.mark.parametrize("affine", [False, True])
def test_eval_matches_numpy(affine):
  module = AttentiveNorm(num_entities=4, affine=affine)
  x = _input()
  variables = _init(module, x)
  expected, expected_layout = an_reference.attentive_normalize(x, _numpy_params(variables), 10.0, 1e-5)
  y, state = module.apply(variables, x, train=False, mutable=["intermediates"])
  np.testing.assert_allclose(np.asarray(y), expected, **TOL)
  np.testing.assert_allclose(np.asarray(state["intermediates"]["layout"][0]), expected_layout, **TOL)


@pytest.mark.parametrize("sampling", ["per_example", "batch_shared"])
@pytest.mark.parametrize("key_pool", [1, 2, 3])
def test_train_matches_numpy_with_the_drawn_positions(monkeypatch, sampling, key_pool):
  """Odd sizes: key_pool windows that do not tile the map drop its last rows/columns."""
  drawn = []

  def recording_sample_positions(*args, **kwargs):
    drawn.append(np.asarray(sample_positions(*args, **kwargs)))
    return drawn[-1]

  sample_positions = functional.sample_positions
  monkeypatch.setattr(functional, "sample_positions", recording_sample_positions)
  module = AttentiveNorm(num_entities=4, key_pool=key_pool, sampling=sampling)
  x = _input((2, 7, 10, 16))
  variables = _init(module, x)
  y = module.apply(variables, x, train=True, rngs={"sampling": jax.random.PRNGKey(_seed())})
  (positions,) = drawn
  assert positions.max() < (7 // key_pool) * (10 // key_pool)
  expected, _ = an_reference.attentive_normalize(
      x, _numpy_params(variables), 10.0, 1e-5, positions=positions, key_pool=key_pool)
  np.testing.assert_allclose(np.asarray(y), expected, **TOL)
  # The SSR term matters: the deterministic (eval) answer is different.
  eval_expected, _ = an_reference.attentive_normalize(x, _numpy_params(variables), 10.0, 1e-5)
  assert not np.allclose(expected, eval_expected, atol=1e-3)


def test_released_statistics_switch_matches_released_code():
  module = AttentiveNorm(num_entities=4, released_statistics=True, eps=1e-7, orthogonal_form="released")
  x = _input()
  variables = _init(module, x)
  expected, _ = an_reference.attentive_normalize(x, _numpy_params(variables), 10.0, 1e-7, released=True)
  y, state = module.apply(variables, x, mutable=["losses"])
  np.testing.assert_allclose(np.asarray(y), expected, **TOL)
  np.testing.assert_allclose(
      float(state["losses"]["orthogonal"][0]),
      an_reference.orthogonal_penalty(variables["params"]["entity"]["kernel"], "released"), rtol=1e-5)


def test_parameter_names_and_shapes_are_the_public_api():
  x = _input((1, 8, 8, 32))
  params = AttentiveNorm(affine=True).init(jax.random.PRNGKey(0), x)["params"]
  shapes = jax.tree.map(jnp.shape, flax.core.unfreeze(params))
  assert shapes == {
      "entity": {"kernel": (1, 1, 32, 16)},
      "key": {"kernel": (1, 1, 32, 4), "bias": (4,)},
      "query": {"kernel": (1, 1, 32, 4), "bias": (4,)},
      "value": {"kernel": (1, 1, 32, 32), "bias": (32,)},
      "alpha": (16,), "rho": (), "scale": (16, 32), "bias": (16, 32)}
  np.testing.assert_array_equal(params["alpha"], np.float32(0.1))
  assert float(params["rho"]) == 0.0


def test_identity_at_init():
  module = AttentiveNorm(num_entities=4)
  x = _input()
  variables = module.init(jax.random.PRNGKey(_seed()), x)
  y = module.apply(variables, x, train=True, rngs={"sampling": jax.random.PRNGKey(1)})
  np.testing.assert_array_equal(np.asarray(y), np.asarray(x))


def test_sows_layout_and_frobenius_penalty():
  module = AttentiveNorm(num_entities=4)
  x = _input()
  variables = _init(module, x)
  _, state = module.apply(variables, x, mutable=["intermediates", "losses"])
  layout = np.asarray(state["intermediates"]["layout"][0])
  assert layout.shape == (2, 8, 8, 4)
  np.testing.assert_allclose(layout.sum(-1), 1.0, rtol=1e-5)
  np.testing.assert_allclose(
      float(state["losses"]["orthogonal"][0]),
      an_reference.orthogonal_penalty(variables["params"]["entity"]["kernel"], "frobenius"), rtol=1e-5)


def test_gradients_are_finite_and_reach_every_parameter():
  module = AttentiveNorm(num_entities=4, affine=True)
  x = _input()
  # alpha differs between entities: with equal alphas the key bias adds the same
  # alpha q_p . b_k to every entity's logit at pixel p, which the softmax cancels,
  # so its gradient is exactly zero.
  variables = _init(module, x, alpha=np.array([0.2, 0.4, 0.6, 0.8]))
  target = _input()

  def loss(params):
    y, state = module.apply({"params": params}, x, train=True,
                            rngs={"sampling": jax.random.PRNGKey(3)}, mutable=["losses"])
    return jnp.mean((y - target) ** 2) + 1e-3 * state["losses"]["orthogonal"][0]

  grads = jax.grad(loss)(variables["params"])
  for path, g in jax.tree_util.tree_leaves_with_path(grads):
    g = np.asarray(g)
    assert np.isfinite(g).all(), path
    assert np.abs(g).max() > 0, f"no gradient reaches {jax.tree_util.keystr(path)}"


def test_train_is_stochastic_and_eval_deterministic():
  module = AttentiveNorm(num_entities=4)
  x = _input()
  variables = _init(module, x, alpha=np.full(4, 0.5))
  run = lambda seed: np.asarray(module.apply(
      variables, x, train=True, rngs={"sampling": jax.random.PRNGKey(seed)}))
  assert not np.allclose(run(0), run(1))
  np.testing.assert_array_equal(run(2), run(2))
  np.testing.assert_array_equal(np.asarray(module.apply(variables, x)), np.asarray(module.apply(variables, x)))


def test_jit_vmap_and_pmap_agree():
  assert jax.local_device_count() == 8, "conftest sets 8 CPU devices"
  module = AttentiveNorm(num_entities=4)
  xs = _input((8, 2, 8, 8, 16))
  variables = _init(module, xs[0])
  rngs = jax.random.split(jax.random.PRNGKey(_seed()), 8)
  apply = lambda x, rng: module.apply(variables, x, train=True, rngs={"sampling": rng})
  eager = np.stack([np.asarray(apply(x, r)) for x, r in zip(xs, rngs)])
  np.testing.assert_allclose(np.asarray(jax.jit(jax.vmap(apply))(xs, rngs)), eager, rtol=1e-5, atol=1e-5)
  np.testing.assert_allclose(np.asarray(jax.vmap(apply)(xs, rngs)), eager, rtol=1e-5, atol=1e-5)
  np.testing.assert_allclose(np.asarray(jax.pmap(apply)(xs, rngs)), eager, rtol=1e-5, atol=1e-5)


def test_bfloat16_compute_close_to_float32():
  x = _input((2, 8, 8, 16))
  f32 = AttentiveNorm(num_entities=4)
  variables = _init(f32, x)
  bf16 = AttentiveNorm(num_entities=4, dtype=jnp.bfloat16)
  y32 = np.asarray(f32.apply(variables, x))
  y16 = bf16.apply(variables, x)
  assert y16.dtype == jnp.bfloat16
  # bfloat16 keeps 8 significant bits (~0.4% relative per rounding) through
  # the 1x1 projections; the regional statistics themselves are float32.
  np.testing.assert_allclose(np.asarray(y16, np.float32), y32, rtol=0.05, atol=0.05)
