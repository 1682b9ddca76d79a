"""The compiled train step: every config family updates what it should, on any mesh."""

import functools
import importlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from an_flax.models import build_models
from an_flax.runtime import mesh as mesh_lib
from an_flax.training import state as state_lib
from an_flax.training import steps
from training.helpers import FAST_COMPILE, TINY, override

# One shipped config per family (SN-GAN: no SN in G, several D steps, lr decay;
# SA-GAN; AN; AN in bfloat16), and the EMA start step its test uses: 0 checks
# the average, 5 the copy before the start.
FAMILIES = {"cifar10_sngan": 5, "imagenet128_sagan": 0, "default": 0, "imagenet128_an_tpu": 0}


def tiny_family_config(name: str):
  """The shipped config at 32x32, width 8, batch 8; non-local layers moved to 16x16."""
  config = importlib.import_module(f"configs.{name}").get_config()
  override(config, {k: v for k, v in TINY.items() if k.startswith("model.")})
  override(config, {"batch_size": 8, "model.resolution": 32, "dataset.image_size": 32,
                    "model.num_classes": 10, "optim.d_steps": min(config.optim.d_steps, 2),
                    "ema.start_step": FAMILIES[name], "ema.decay": 0.5})
  for field in ("g_nonlocal", "d_nonlocal"):
    if config.model[field].kind != "none":
      config.model[field].resolutions = (16,)
  return config


def random_batch(config):
  rng = np.random.RandomState(0)
  shape = (config.optim.d_steps, config.batch_size)
  return {"image": rng.randint(0, 256, shape + (32, 32, 3)).astype(np.uint8),
          "label": rng.randint(0, config.model.num_classes, shape).astype(np.int32)}


@functools.lru_cache(maxsize=None)
def one_step(name: str, num_devices: int, per_device_bn: bool = False, d_loop: str = "unroll",
             advance_d_spectral: bool = True):
  """(initial state, state after one step, metrics), on host, over the first devices."""
  config = tiny_family_config(name)
  config.model.per_device_bn = per_device_bn
  config.optim.g_step_advances_d_spectral = advance_d_spectral
  mesh = mesh_lib.create_mesh(jax.devices()[:num_devices])
  generator, discriminator = build_models(config.model)
  g_tx, d_tx = state_lib.make_optimizers(config)
  init = jax.jit(lambda key: state_lib.create_train_state(
      config, generator, discriminator, g_tx, d_tx, key), out_shardings=mesh_lib.replicated(mesh),
      compiler_options=FAST_COMPILE)
  state = init(jax.random.PRNGKey(0))
  before = mesh_lib.to_host(state)
  batch = mesh_lib.global_batch(random_batch(config), mesh, 1)
  train_step = steps.make_train_step(config, generator, discriminator, g_tx, d_tx, mesh, d_loop)
  state, metrics = train_step.lower(state, batch).compile(FAST_COMPILE)(state, batch)
  return before, mesh_lib.to_host(state), mesh_lib.to_host(metrics)


def changed(a, b) -> bool:
  return any(not np.array_equal(x, y) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)))


@pytest.mark.parametrize("name", FAMILIES)
def test_one_step_updates_networks_ema_and_spectral_state(name):
  config = tiny_family_config(name)
  before, after, metrics = one_step(name, 1)

  assert all(np.isfinite(v) for v in metrics.values()), metrics
  assert metrics["finite"] == 1 and int(after.step) == 1
  assert changed(before.g_params, after.g_params)
  assert changed(before.d_params, after.d_params)
  assert changed(before.g_state["batch_stats"], after.g_state["batch_stats"])
  assert changed(before.d_state["spectral"], after.d_state["spectral"])
  assert changed(before.g_state["spectral"], after.g_state["spectral"]) == (
      config.model.g_spectral_norm)
  assert all(x.dtype == np.float32 for x in jax.tree.leaves((after.g_params, after.d_params)))
  if config.model.g_nonlocal.kind == "attentive_norm":
    assert metrics["g_orthogonal"] > 0 and metrics["d_orthogonal"] > 0

  old, new, ema = ((before.ema_params, before.ema_state), (after.g_params, after.g_state),
                   (after.ema_params, after.ema_state))
  if config.ema.start_step > 1:  # before the start step the EMA is a copy of G
    assert not changed(ema, new)
  else:  # decay 0.5: the midpoint of the old EMA (= initial G) and the new G
    for o, n, e in zip(*map(jax.tree.leaves, (old, new, ema))):
      np.testing.assert_allclose(e, 0.5 * o + 0.5 * n, rtol=1e-6, atol=1e-7)
    assert changed(ema, new) and changed(ema, old)


def _assert_same_state(one, eight, lr: float) -> None:
  """Equal up to the order of float sums: |a - b| <= 1e-5 * max(1, max|a|) per array.

  Exception: a weight whose gradient is rounding noise (a conv bias right
  before a BatchNorm has exact gradient 0) moves by +-lr on Adam's first step
  whatever the noise's sign; for those only |a - b| <= 2 lr is asserted.
  """
  def grad_scale(name, path):
    if name not in ("g_params", "d_params", "ema_params"):
      return np.inf
    mu = (one.d_opt_state if name == "d_params" else one.g_opt_state)[0].mu
    for key in path:
      mu = mu[key.key]
    return np.max(np.abs(mu))

  for name in one.__dataclass_fields__:
    a_tree, b_tree = getattr(one, name), getattr(eight, name)
    for (path, a), b in zip(jax.tree_util.tree_leaves_with_path(a_tree), jax.tree.leaves(b_tree)):
      where = f"{name}{jax.tree_util.keystr(path)}"
      a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
      noise_gradient = a.size and grad_scale(name, path) < 1e-6
      atol = 2 * lr if noise_gradient else 1e-5 * max(1.0, np.max(np.abs(a), initial=0))
      np.testing.assert_allclose(a, b, rtol=0, atol=atol, err_msg=where)


def test_one_and_eight_devices_give_the_same_state():
  """Global-batch BN and one jit: sharding the batch over 8 devices changes nothing."""
  assert len(jax.devices()) == 8
  _, one, one_metrics = one_step("default", 1)
  _, eight, eight_metrics = one_step("default", 8)
  _assert_same_state(one, eight, lr=tiny_family_config("default").optim.g_lr)
  for key in one_metrics:
    np.testing.assert_allclose(one_metrics[key], eight_metrics[key], rtol=1e-5, err_msg=key)


def test_per_device_batch_norm_uses_each_devices_statistics():
  """per_device_bn: each device normalises its own rows; running stats are averaged."""
  config = tiny_family_config("cifar10_sngan")
  generator, _ = build_models(config.model)
  mesh = mesh_lib.create_mesh(jax.devices())
  z = jax.random.normal(jax.random.PRNGKey(1), (16, config.model.z_dim))
  labels = jnp.arange(16) % 10
  variables = jax.jit(generator.init, compiler_options=FAST_COMPILE)(
      jax.random.PRNGKey(0), z[:1], labels[:1])
  params, state = variables["params"], {k: v for k, v in variables.items() if k != "params"}
  generate = jax.jit(state_lib.generator_train_apply(generator, mesh, per_device_bn=True),
                     compiler_options=FAST_COMPILE)
  images, new_state, _ = generate(params, state, z, labels, jax.random.PRNGKey(2))

  apply = jax.jit(lambda z, y: generator.apply(variables, z, y, train=True,
                                               mutable=["batch_stats", "spectral"]),
                  compiler_options=FAST_COMPILE)
  chunks = [apply(z[i:i + 2], labels[i:i + 2]) for i in range(0, 16, 2)]
  np.testing.assert_allclose(images, np.concatenate([c[0] for c in chunks]), atol=2e-5)
  expected = jax.tree.map(lambda *s: np.mean(s, axis=0), *[c[1]["batch_stats"] for c in chunks])
  for a, b in zip(jax.tree.leaves(new_state["batch_stats"]), jax.tree.leaves(expected)):
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_per_device_batch_norm_train_step():
  """The whole step with per_device_bn: finite, replicated, other statistics than global."""
  _, per_device, metrics = one_step("default", 8, per_device_bn=True)
  _, global_bn, _ = one_step("default", 8)
  assert metrics["finite"] == 1 and all(np.isfinite(v) for v in metrics.values())
  assert int(per_device.step) == 1
  assert changed(per_device.g_state["batch_stats"], global_bn.g_state["batch_stats"])


def _lowered_convolutions(d_steps: int, d_loop: str) -> int:
  config = tiny_family_config("cifar10_sngan")
  config.optim.d_steps = d_steps
  generator, discriminator = build_models(config.model)
  g_tx, d_tx = state_lib.make_optimizers(config)
  abstract = jax.eval_shape(lambda key: state_lib.create_train_state(
      config, generator, discriminator, g_tx, d_tx, key), jax.random.PRNGKey(0))
  batch = jax.eval_shape(lambda: {k: jnp.asarray(v) for k, v in random_batch(config).items()})
  mesh = mesh_lib.create_mesh(jax.devices()[:1])
  step = steps.make_train_step(config, generator, discriminator, g_tx, d_tx, mesh, d_loop)
  return step.lower(abstract, batch).as_text().count("stablehlo.convolution")


def test_scanned_d_updates_do_not_grow_the_program():
  """The scanned step has one D update's convolutions whatever d_steps; unrolled, it grows."""
  scanned = [_lowered_convolutions(n, "scan") for n in (1, 3)]
  unrolled = [_lowered_convolutions(n, "unroll") for n in (1, 2, 3)]
  assert scanned[0] == scanned[1] == unrolled[0] > 0
  assert unrolled[2] - unrolled[1] == unrolled[1] - unrolled[0] > 0  # one D update each


def test_scanned_and_unrolled_d_updates_give_the_same_step():
  """cifar10_sngan runs 2 D updates: the same arithmetic in a loop body or unrolled."""
  _, unrolled, unrolled_metrics = one_step("cifar10_sngan", 1)
  _, scanned, scanned_metrics = one_step("cifar10_sngan", 1, d_loop="scan")
  _assert_same_state(unrolled, scanned, lr=tiny_family_config("cifar10_sngan").optim.g_lr)
  for key in unrolled_metrics:
    np.testing.assert_allclose(unrolled_metrics[key], scanned_metrics[key], rtol=1e-5,
                               err_msg=key)


def test_g_step_advances_d_spectral_vectors_only_when_asked():
  """With the switch, D's vectors get one more power iteration in the G update (it depends
  on D's weights only, so any input gives it); without, they stay as the D updates left
  them. D's parameters are the same either way."""
  config = tiny_family_config("default")
  _, advanced, _ = one_step("default", 1, advance_d_spectral=True)
  _, kept, _ = one_step("default", 1, advance_d_spectral=False)
  for a, b in zip(jax.tree.leaves(advanced.d_params), jax.tree.leaves(kept.d_params)):
    np.testing.assert_array_equal(a, b)
  _, discriminator = build_models(config.model)
  images = jnp.zeros((2, 32, 32, 3))
  _, once_more = discriminator.apply(
      {"params": kept.d_params, **kept.d_state}, images, jnp.zeros((2,), jnp.int32), train=True,
      rngs={"sampling": jax.random.PRNGKey(0)}, mutable=["spectral"])
  assert changed(kept.d_state["spectral"], advanced.d_state["spectral"])
  for a, b in zip(jax.tree.leaves(once_more["spectral"]),
                  jax.tree.leaves(advanced.d_state["spectral"])):
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def _frobenius_penalties(params) -> float:
  """sum over AN layers of ||W W^T - I||_F^2, W the (n x C) entity matrix, numpy float64."""
  total = 0.0
  for path, leaf in jax.tree_util.tree_leaves_with_path(params):
    names = [getattr(key, "key", "") for key in path]
    if names[-2:] == ["entity", "kernel"]:
      w = np.asarray(leaf, np.float64).reshape(-1, leaf.shape[-1]).T
      total += np.sum((w @ w.T - np.eye(len(w))) ** 2)
  return total


def test_orthogonal_metrics_are_the_weighted_penalties_of_the_step_s_parameters():
  """What each term adds to the loss: weight x the paper's penalty on the entities."""
  config = tiny_family_config("default")
  before, _, metrics = one_step("default", 1)
  weight = config.loss.orthogonal_weight
  for side, params in (("g", before.g_params), ("d", before.d_params)):
    penalty = _frobenius_penalties(params)
    assert penalty > 0
    np.testing.assert_allclose(metrics[f"{side}_orthogonal"], weight * penalty, rtol=1e-4)
