"""The compiled inpainting step: updates both networks, and 8 devices = 1 device."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.sharding import Mesh

from an_flax.inpainting import steps
from an_flax.runtime import mesh as mesh_lib
from configs.inpainting import inpaint_default


def tiny_config():
  config = inpaint_default.get_config()
  config.dataset.image_size = 32  # the smallest size AN's 16 entities allow
  config.model.width = 4
  config.model.critic_width = 4
  config.batch_size = 8
  config.optim.critic_steps = 2
  return config


def _unchanged(before, after):
  """Paths of the leaves a step left exactly as they were."""
  flat = lambda tree: {jax.tree_util.keystr(p): np.asarray(x)
                       for p, x in jax.tree_util.tree_leaves_with_path(tree)}
  after = flat(after)
  return {path for path, x in flat(before).items() if np.array_equal(x, after[path])}


def test_step_updates_both_networks_and_eight_devices_match_one():
  """One step with plain SGD: parameter changes are -lr * gradients.

  Tolerance: float32 reductions split over 8 devices sum in another order; the
  per-leaf changes agree to 1e-3 of that leaf's largest change plus a few
  float32 ulps of its values (Adam would turn ~0 gradients into +-lr steps and
  hide the comparison).
  """
  config = tiny_config()
  generator, critics = steps.build_models(config)
  sgd = optax.sgd(1e-3)
  state = jax.jit(lambda: steps.create_state(config, generator, critics, sgd, sgd,
                                                jax.random.PRNGKey(config.seed)))()
  images = jax.random.randint(jax.random.PRNGKey(5), (3, 8, 32, 32, 3), 0, 256).astype(jnp.uint8)
  host_state = jax.tree.map(np.asarray, state)

  results = {}
  for name, devices in (("one", jax.devices()[:1]), ("eight", jax.devices()[:8])):
    mesh = Mesh(np.asarray(devices), (mesh_lib.DATA_AXIS,))
    step = steps.make_train_step(config, generator, critics, sgd, sgd, mesh)
    placed = jax.device_put(host_state, mesh_lib.replicated(mesh))
    batch = jax.device_put({"image": images}, mesh_lib.batch_sharding(mesh, 1))
    new_state, metrics = step(placed, batch, {})
    results[name] = (jax.tree.map(np.asarray, new_state), jax.tree.map(float, metrics))

  new_state, metrics = results["eight"]
  assert int(new_state.step) == 1 and metrics["finite"] == 1.0
  assert all(np.isfinite(v) for v in metrics.values())
  # The generator's terms are logged as they enter its loss: they add up to it.
  terms = [v for k, v in metrics.items() if k.startswith("g_") and k != "g_loss"]
  assert len(terms) >= 4 and metrics["g_orthogonal"] > 0
  np.testing.assert_allclose(sum(terms), metrics["g_loss"], rtol=1e-5)
  # Zero gradients by construction: AN starts with rho = 0, so only rho (and the
  # entities, through the orthogonality penalty) move at first; a WGAN critic's
  # output bias cancels between real and fake.
  an = "['non_local_branch']['attentive_norm']"
  assert _unchanged(host_state.g_params, new_state.g_params) == {
      f"{an}['{name}']" + suffix for name, suffix in (
          ("alpha", ""), ("key", "['kernel']"), ("key", "['bias']"), ("query", "['kernel']"),
          ("query", "['bias']"), ("value", "['kernel']"), ("value", "['bias']"))}
  assert _unchanged(host_state.d_params, new_state.d_params) == {
      "['global_net']['Dense_0']['bias']", "['local_net']['Dense_0']['bias']"}
  assert not np.array_equal(host_state.rng, new_state.rng)

  one_state, one_metrics = results["one"]
  for key in metrics:
    np.testing.assert_allclose(metrics[key], one_metrics[key], rtol=1e-3, atol=1e-5, err_msg=key)
  def same_change(before, eight, one):
    eight, one = eight - before, one - before
    ulps = 1e-6 * np.abs(before).max()
    np.testing.assert_allclose(eight, one, rtol=0, atol=1e-3 * np.abs(one).max() + ulps)
  for tree in ("g_params", "d_params"):
    jax.tree.map(same_change, getattr(host_state, tree), getattr(new_state, tree),
                 getattr(one_state, tree))


def test_scanned_and_unrolled_critic_updates_give_the_same_step():
  """2 critic updates in a loop body or written out: the same arithmetic, so the same
  state and metrics (tolerance: float32 sums XLA may fuse in another order)."""
  config = tiny_config()
  generator, critics = steps.build_models(config)
  adam = optax.adam(1e-3)
  state = jax.jit(lambda: steps.create_state(config, generator, critics, adam, adam,
                                                jax.random.PRNGKey(config.seed)))()
  host_state = jax.tree.map(np.asarray, state)
  images = jax.random.randint(jax.random.PRNGKey(7), (3, 8, 32, 32, 3), 0, 256).astype(jnp.uint8)
  mesh = Mesh(np.asarray(jax.devices()[:1]), (mesh_lib.DATA_AXIS,))
  results = {}
  for loop in ("scan", "unroll"):
    step = steps.make_train_step(config, generator, critics, adam, adam, mesh, loop)
    placed = jax.device_put(host_state, mesh_lib.replicated(mesh))
    new_state, metrics = step(placed, {"image": images}, {})
    results[loop] = (jax.tree.map(np.asarray, new_state), jax.tree.map(float, metrics))
  (scanned, scanned_metrics), (unrolled, unrolled_metrics) = results["scan"], results["unroll"]
  assert not np.array_equal(scanned.d_params["global_net"]["Dense_0"]["kernel"],
                            host_state.d_params["global_net"]["Dense_0"]["kernel"])
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6),
               scanned, unrolled)
  for key in scanned_metrics:
    np.testing.assert_allclose(scanned_metrics[key], unrolled_metrics[key], rtol=1e-4,
                               atol=1e-6, err_msg=key)
