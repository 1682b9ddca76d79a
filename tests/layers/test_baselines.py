"""The baselines AN is compared with: SA-GAN attention, spectral norm, conditional BN."""

import flax
import jax
import jax.numpy as jnp
import numpy as np

import an_reference
from an_flax.layers import (ConditionalBatchNorm, SelfAttention, SNConv, SNDense, SNEmbed,
                            SPECTRAL_COLLECTION)

TOL = dict(rtol=1e-4, atol=1e-4)


def _seed():
  return int(np.random.default_rng().integers(1 << 31))


def _numpy_self_attention(x, params):
  """SA-GAN block written out: pooled keys/values, softmax over keys, residual."""
  kernel = lambda name: np.asarray(params[name]["conv"]["kernel"], np.float64)[0, 0]
  x = np.asarray(x, np.float64)
  n, h, w, c = x.shape
  query = (x @ kernel("query")).reshape(n, h * w, -1)
  key = an_reference.max_pool(x @ kernel("key"), 2).reshape(n, -1, c // 8)
  value = an_reference.max_pool(x @ kernel("value"), 2).reshape(n, -1, c // 2)
  weights = an_reference.softmax(np.einsum("npc,nqc->npq", query, key))
  attended = np.einsum("npq,nqc->npc", weights, value).reshape(n, h, w, c // 2)
  return x + float(params["gamma"]) * (attended @ kernel("out"))


def test_self_attention_matches_numpy():
  x = jnp.asarray(np.random.default_rng().standard_normal((2, 8, 8, 16)), jnp.float32)
  module = SelfAttention(spectral=False)
  params = flax.core.unfreeze(module.init(jax.random.PRNGKey(_seed()), x)["params"])
  assert float(params["gamma"]) == 0.0  # residual weight starts at 0
  shapes = {k: v["conv"]["kernel"].shape for k, v in params.items() if k != "gamma"}
  assert shapes == {"query": (1, 1, 16, 2), "key": (1, 1, 16, 2),
                    "value": (1, 1, 16, 8), "out": (1, 1, 8, 16)}
  params["gamma"] = jnp.float32(0.6)
  np.testing.assert_allclose(np.asarray(module.apply({"params": params}, x)),
                             _numpy_self_attention(x, params), **TOL)


def test_spectral_state_has_its_own_collection_and_converges_to_top_singular_value():
  x = jnp.asarray(np.random.default_rng().standard_normal((2, 8, 8, 6)), jnp.float32)
  module = SNConv(5, (3, 3))
  variables = module.init(jax.random.PRNGKey(_seed()), x)
  assert set(variables) == {"params", SPECTRAL_COLLECTION}
  power_step = jax.jit(lambda v: module.apply(v, x, train=True, mutable=[SPECTRAL_COLLECTION])[1])
  for _ in range(300):  # power iteration converges at the rate of the singular-value gap
    variables = {**variables, **power_step(variables)}
  kernel = np.asarray(variables["params"]["conv"]["kernel"], np.float64)
  top_singular_value = np.linalg.svd(kernel.reshape(-1, 5), compute_uv=False)[0]
  (sigma,) = [v for k, v in flax.traverse_util.flatten_dict(variables[SPECTRAL_COLLECTION]).items()
              if k[-1].endswith("sigma")]
  np.testing.assert_allclose(float(sigma), top_singular_value, rtol=1e-3)
  # The forward pass uses kernel / sigma.
  y = module.apply(variables, x)
  expected = jax.lax.conv_general_dilated(
      x, jnp.asarray(kernel / float(sigma), jnp.float32), (1, 1), "SAME",
      dimension_numbers=("NHWC", "HWIO", "NHWC")) + variables["params"]["conv"]["bias"]
  np.testing.assert_allclose(np.asarray(y), np.asarray(expected), **TOL)


def test_spectral_switch_off_gives_plain_layers():
  x = jnp.ones((2, 4))
  for module, args in ((SNDense(3, spectral=False), (x,)),
                       (SNEmbed(5, 3, spectral=False), (jnp.array([0, 4]),))):
    variables = module.init(jax.random.PRNGKey(0), *args)
    assert set(variables) == {"params"}
  variables = SNEmbed(5, 3).init(jax.random.PRNGKey(0), jnp.array([0, 4]))
  assert set(variables) == {"params", SPECTRAL_COLLECTION}


def test_conditional_batch_norm_matches_numpy():
  rng = np.random.default_rng()
  x = rng.standard_normal((6, 4, 4, 3)) * 2 + 1
  labels = np.array([0, 1, 2, 1, 0, 2])
  module = ConditionalBatchNorm(num_classes=3)
  variables = flax.core.unfreeze(module.init(jax.random.PRNGKey(0), jnp.asarray(x, jnp.float32), labels))
  assert "batch_stats" in variables and SPECTRAL_COLLECTION not in variables
  gain, bias = rng.standard_normal((3, 3)), rng.standard_normal((3, 3))
  variables["params"]["gain"]["embedding"] = jnp.asarray(gain, jnp.float32)
  variables["params"]["bias"]["embedding"] = jnp.asarray(bias, jnp.float32)
  y, updates = module.apply(variables, jnp.asarray(x, jnp.float32), labels, train=True,
                            mutable=["batch_stats"])
  mean, var = x.mean(axis=(0, 1, 2)), x.var(axis=(0, 1, 2))
  expected = (x - mean) / np.sqrt(var + 1e-5) * gain[labels][:, None, None] + bias[labels][:, None, None]
  np.testing.assert_allclose(np.asarray(y), expected, **TOL)
  # PyTorch momentum 0.1 == Flax momentum 0.9, biased variance stored.
  np.testing.assert_allclose(np.asarray(updates["batch_stats"]["bn"]["mean"]), 0.1 * mean, **TOL)
  np.testing.assert_allclose(np.asarray(updates["batch_stats"]["bn"]["var"]), 0.9 + 0.1 * var, **TOL)
  # Evaluation uses the running statistics.
  variables["batch_stats"] = updates["batch_stats"]
  y_eval = module.apply(variables, jnp.asarray(x, jnp.float32), labels, train=False)
  running_mean, running_var = 0.1 * mean, 0.9 + 0.1 * var
  expected_eval = ((x - running_mean) / np.sqrt(running_var + 1e-5) * gain[labels][:, None, None]
                   + bias[labels][:, None, None])
  np.testing.assert_allclose(np.asarray(y_eval), expected_eval, **TOL)


def test_conditional_batch_norm_reads_a_conditioning_vector():
  """form='one_plus' with a float (N, d) vector (BigGAN's [shared embedding, z chunk]):
  gamma = 1 + c W_gain, beta = c W_bias, spectral norm of W in the 'torch' form."""
  rng = np.random.default_rng()
  x = rng.standard_normal((6, 4, 4, 5)) * 2 + 1
  condition = rng.standard_normal((6, 7))
  module = ConditionalBatchNorm(num_classes=3, form="one_plus", spectral=True,
                                spectral_form="torch")
  variables = module.init(jax.random.PRNGKey(_seed()), jnp.asarray(x, jnp.float32),
                          jnp.asarray(condition, jnp.float32))
  y = module.apply(variables, jnp.asarray(x, jnp.float32), jnp.asarray(condition, jnp.float32),
                   train=True, mutable=["batch_stats", SPECTRAL_COLLECTION])[0]

  def normalised(name):  # one power iteration from the stored u, as a train call makes
    kernel = np.asarray(variables["params"][name]["dense"]["kernel"], np.float64)
    u = np.asarray(variables[SPECTRAL_COLLECTION][name]["TorchSpectralNorm_0"]["dense/kernel/u"])
    v = kernel @ u
    v /= np.linalg.norm(v)
    u = kernel.T @ v
    u /= np.linalg.norm(u)
    return kernel / (u @ kernel.T @ v)

  assert variables["params"]["gain"]["dense"]["kernel"].shape == (7, 5)
  mean, var = x.mean(axis=(0, 1, 2)), x.var(axis=(0, 1, 2))
  gain = (1 + condition @ normalised("gain"))[:, None, None]
  bias = (condition @ normalised("bias"))[:, None, None]
  np.testing.assert_allclose(np.asarray(y), (x - mean) / np.sqrt(var + 1e-5) * gain + bias,
                             **TOL)
