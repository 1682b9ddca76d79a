"""Standing statistics: averaged batch statistics of train-mode passes replace G's running
statistics; checked against a direct numpy computation and on the real generator."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from an_flax.evaluation import restore, standing_stats
from an_flax.runtime import mesh as mesh_lib


class _TwoBatchNorms(nn.Module):
  """z -> Dense -> BN -> relu -> Dense -> BN: the second BN sees the first's batch output."""

  @nn.compact
  def __call__(self, z, labels, train: bool):
    del labels
    x = nn.BatchNorm(use_running_average=not train, momentum=0.9, name="bn0")(nn.Dense(5)(z))
    x = nn.Dense(3)(nn.relu(x))
    return nn.BatchNorm(use_running_average=not train, momentum=0.8, name="bn1")(x)


def _numpy_batch_statistics(params, z):
  """Each BatchNorm's batch mean and biased variance, computed directly in float64."""
  stats, x = {}, np.asarray(z, np.float64)
  for dense, bn in (("Dense_0", "bn0"), ("Dense_1", "bn1")):
    x = x @ np.asarray(params[dense]["kernel"], np.float64) + np.asarray(params[dense]["bias"])
    mean, var = x.mean(0), x.var(0)
    stats[bn] = {"mean": mean, "var": var}
    x = (x - mean) / np.sqrt(var + 1e-5) * np.asarray(params[bn]["scale"]) + np.asarray(
        params[bn]["bias"])
    x = np.maximum(x, 0)
  return stats


def test_standing_statistics_average_batch_statistics():
  mesh = mesh_lib.create_mesh()
  model = _TwoBatchNorms()
  variables = model.init(jax.random.PRNGKey(0), jnp.zeros((1, 4)), None, train=False)
  params = jax.tree.map(lambda x: x + 0.3, variables["params"])  # non-trivial BN affine
  state = {"batch_stats": jax.tree.map(lambda x: x + 7.0, variables["batch_stats"])}

  def train_apply(params, state, z, labels, rng):
    del rng
    out, mutated = model.apply({"params": params, **state}, z, labels, train=True,
                               mutable=["batch_stats"])
    return out, {"batch_stats": mutated["batch_stats"]}, jnp.zeros(())

  sharding = mesh_lib.batch_sharding(mesh)
  zs = [2.0 * np.random.default_rng(i).normal(size=(16, 4)).astype(np.float32) + i
        for i in range(3)]
  latents = [(jax.device_put(z, sharding), jax.device_put(np.zeros(16, np.int32), sharding))
             for z in zs]
  new = standing_stats.standing_statistics(train_apply, params, state, latents,
                                           jax.random.PRNGKey(1), mesh)

  per_pass = [_numpy_batch_statistics(params, z) for z in zs]
  for bn in ("bn0", "bn1"):
    for name in ("mean", "var"):
      expected = np.mean([s[bn][name] for s in per_pass], axis=0)
      np.testing.assert_allclose(new["batch_stats"][bn][name], expected, rtol=2e-5, atol=2e-5)


def test_standing_statistics_replace_g_ema_running_statistics(workdir, tiny_config):
  mesh = mesh_lib.create_mesh()
  state, _, _ = restore.restore_train_state(tiny_config, workdir, mesh)
  restored = restore.restore_generator(tiny_config, workdir, mesh)
  assert restored.standing_stats_batches == 2
  stored = jax.tree.leaves(state.ema_state["batch_stats"])
  standing = jax.tree.leaves(restored.variables["batch_stats"])
  assert len(stored) == len(standing) > 0
  for before, after in zip(stored, standing):
    assert not np.allclose(before, after)
    assert np.all(np.isfinite(after))
  variances = [leaf for path, leaf in jax.tree_util.tree_leaves_with_path(
      restored.variables["batch_stats"]) if path[-1].key == "var"]
  assert variances and all(np.all(np.asarray(v) >= 0) for v in variances)
  # Parameters and spectral-norm state are G_ema's, untouched.
  for ours, theirs in ((restored.variables["params"], state.ema_params),
                       (restored.variables["spectral"], state.ema_state["spectral"])):
    jax.tree.map(np.testing.assert_array_equal, ours, theirs)
