"""Tests of the class-conditional ResNet GANs (an_flax.models)."""

import functools
import importlib
import json
import pathlib

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from an_flax import functional
from an_flax.models import build_models, sum_sown_losses
from models.model_configs import (
    abstract_variables, cifar10_sngan_config, count, imagenet128_config, model_config,
    nonlocal_config)

BATCH = 2
STATE = ["batch_stats", "spectral"]
MUTABLE = STATE + ["losses", "intermediates"]
AN_PARAMS = {"entity", "key", "query", "value", "alpha", "rho"}
SA_PARAMS = {"query", "key", "value", "out", "gamma"}


def _inputs(cfg, batch=BATCH, seed=0):
  kz, kx = jax.random.split(jax.random.key(seed))
  z = jax.random.normal(kz, (batch, cfg.z_dim))
  images = jax.random.uniform(kx, (batch, cfg.resolution, cfg.resolution, 3), minval=-1.0)
  labels = jnp.arange(batch) % cfg.num_classes
  return z, images, labels


@functools.lru_cache(maxsize=None)
def _run(cfg_json: str):
  """Init G and D, one training-mode apply of each; cached per config.

  Eager on purpose: op-by-op compilations are cached across configs, which on
  a 2-core CPU is several times faster than jit-compiling each config.
  """
  cfg = ml_collections.ConfigDict(json.loads(cfg_json))
  generator, discriminator = build_models(cfg)
  z, images, labels = _inputs(cfg)
  rngs = {"params": jax.random.key(1), "sampling": jax.random.key(2)}
  g_vars = generator.init(rngs, z, labels, train=False)
  d_vars = discriminator.init(rngs, images, labels, train=False)
  fake, g_mut = generator.apply(g_vars, z, labels, train=True, rngs=rngs, mutable=MUTABLE)
  logits, d_mut = discriminator.apply(d_vars, images, labels, train=True, rngs=rngs,
                                      mutable=MUTABLE)
  return g_vars, d_vars, fake, g_mut, logits, d_mut


def run_models(cfg):
  return _run(cfg.to_json())


def _paths(tree):
  """Leaf paths as tuples of dict keys (sown tuples' indices dropped)."""
  return {tuple(k.key for k in path if hasattr(k, "key"))
          for path, _ in jax.tree_util.tree_leaves_with_path(tree)}


def _subtree(tree, path: str):
  for key in path.split("/"):
    tree = tree[key]
  return tree


# ----------------------------------------------------------------------------
# Shapes, range, dtypes.

@pytest.mark.parametrize("resolution, g_mults, d_mults", [
    (32, (4, 2, 2, 1), (1, 2, 2, 2)),
    (64, (4, 4, 2, 2, 1), (1, 2, 2, 4, 4)),
])
def test_shapes_and_range(resolution, g_mults, d_mults):
  cfg = model_config(resolution=resolution, g_multipliers=g_mults, d_multipliers=d_mults,
                     g_nonlocal=nonlocal_config("attentive_norm", (16,)),
                     d_nonlocal=nonlocal_config("self_attention", (16,)))
  _, _, fake, _, logits, _ = run_models(cfg)
  assert fake.shape == (BATCH, resolution, resolution, 3) and fake.dtype == jnp.float32
  assert float(jnp.max(jnp.abs(fake))) <= 1.0
  assert float(jnp.std(fake)) > 1e-3  # not a constant image
  assert logits.shape == (BATCH,) and logits.dtype == jnp.float32
  assert np.all(np.isfinite(np.asarray(logits)))


def test_shapes_128_abstract():
  cfg = model_config(resolution=128, g_multipliers=(4, 4, 2, 2, 1, 1),
                     d_multipliers=(1, 1, 2, 2, 4, 4),
                     g_nonlocal=nonlocal_config("attentive_norm", (64,)),
                     d_nonlocal=nonlocal_config("attentive_norm", (32,), inside_blocks=True))
  generator, discriminator = build_models(cfg)
  g_vars, d_vars = abstract_variables(generator, discriminator, cfg)
  z, images, labels = _inputs(cfg)
  rngs = {"sampling": jax.random.key(0)}
  fake = jax.eval_shape(lambda v, z, y: generator.apply(
      v, z, y, train=True, rngs=rngs, mutable=MUTABLE)[0], g_vars, z, labels)
  logits = jax.eval_shape(lambda v, x, y: discriminator.apply(
      v, x, y, train=True, rngs=rngs, mutable=MUTABLE)[0], d_vars, images, labels)
  assert (fake.shape, fake.dtype) == ((BATCH, 128, 128, 3), jnp.float32)
  assert (logits.shape, logits.dtype) == ((BATCH,), jnp.float32)


# ----------------------------------------------------------------------------
# Non-local placement.

# Tiny 32x32 model: G blocks 0, 1, 2 output 8, 16, 32. D (final resolution 8):
# block0 32->16, block1 16->8, blocks 2 and 3 at 8. Modules listed at (8, 16).
AFTER = ({"nonlocal8": 8, "nonlocal16": 16}, {"nonlocal16": 16, "nonlocal8": 8})
PLACEMENTS = {  # (kind, inside_blocks): ({G module path: resolution}, {D ...})
    ("none", False): ({}, {}),
    ("self_attention", False): AFTER,
    ("attentive_norm", False): AFTER,
    ("attentive_norm", True): ({"block0/nonlocal": 8, "block1/nonlocal": 16},
                               {"block1/nonlocal": 16, "block2/nonlocal": 8}),
}


def _placement_config(kind, inside):
  return model_config(g_nonlocal=nonlocal_config(kind, (8, 16), inside),
                      d_nonlocal=nonlocal_config(kind, (16, 8), inside))


def _nonlocal_paths(params):
  """Paths of every module whose params look like AN or SA ('rho' or 'gamma')."""
  found = set()
  for path in _paths(params):
    for i, key in enumerate(path):
      if key in ("rho", "gamma"):
        found.add("/".join(path[:i]))
  return found


@pytest.mark.parametrize("kind, inside", sorted(PLACEMENTS))
def test_nonlocal_placement_and_losses(kind, inside):
  g_vars, d_vars, _, g_mut, _, d_mut = run_models(_placement_config(kind, inside))
  expected_params = {"self_attention": SA_PARAMS, "attentive_norm": AN_PARAMS}.get(kind)
  for variables, mutated, expected in zip((g_vars, d_vars), (g_mut, d_mut),
                                          PLACEMENTS[(kind, inside)]):
    params = variables["params"]
    assert _nonlocal_paths(params) == set(expected)
    for path in expected:
      assert set(_subtree(params, path)) == expected_params
    losses = mutated.get("losses", {})
    penalties = jax.tree_util.tree_leaves(losses)
    if kind != "attentive_norm":
      assert not penalties and float(sum_sown_losses(losses)) == 0.0
      continue
    # One orthogonal penalty per AN module, at that module's path.
    assert {"/".join(p[:-1]) for p in _paths(losses)} == set(expected)
    assert all(p[-1] == "orthogonal" for p in _paths(losses))
    assert len(penalties) == len(expected)
    reference = sum(functional.orthogonal_penalty(_subtree(params, p)["entity"]["kernel"])
                    for p in expected)
    np.testing.assert_allclose(sum_sown_losses(losses), reference, rtol=1e-5)
    np.testing.assert_allclose(sum_sown_losses(mutated), reference, rtol=1e-5)
    # Each module sees feature maps of its listed resolution: its layout says so.
    for path, resolution in expected.items():
      (layout,) = _subtree(mutated["intermediates"], path)["layout"]
      assert layout.shape == (BATCH, resolution, resolution, 16)


def _call_order(model, variables, *inputs):
  """Names of the submodules in the order they ran (intermediates keep call order)."""
  _, state = model.apply(variables, *inputs, train=False, capture_intermediates=True,
                         mutable=["intermediates"])
  order = lambda tree: [k for k in tree if k != "__call__"]
  return order(state["intermediates"]), {
      k: order(v) for k, v in state["intermediates"].items() if k.startswith("block")}


@pytest.mark.parametrize("inside", [False, True])
def test_call_order(inside):
  cfg = _placement_config("attentive_norm", inside)
  generator, discriminator = build_models(cfg)
  g_vars, d_vars, *_ = run_models(cfg)
  z, images, labels = _inputs(cfg)
  g_top, g_blocks = _call_order(generator, g_vars, z, labels)
  d_top, d_blocks = _call_order(discriminator, d_vars, images, labels)
  if inside:  # conv3x3 -> AN -> (C)BN/ReLU, in the blocks whose convs run at 8 and 16
    assert g_top == ["dense", "block0", "block1", "block2", "bn", "conv_out"]
    assert g_blocks["block1"] == ["bn1", "conv1", "nonlocal", "bn2", "conv2", "shortcut"]
    assert d_blocks["block2"] == ["conv1", "nonlocal", "conv2"]  # identity shortcut
    assert d_blocks["block3"] == ["conv1", "conv2"]  # only the first block at 8
  else:  # after the block that outputs the listed resolution
    assert g_top == ["dense", "block0", "nonlocal8", "block1", "nonlocal16", "block2", "bn",
                     "conv_out"]
    assert g_blocks["block1"] == ["bn1", "conv1", "bn2", "conv2", "shortcut"]
    assert d_top == ["block0", "nonlocal16", "block1", "nonlocal8", "block2", "block3",
                     "linear", "embed"]
  assert d_blocks["block0"][-1] == "shortcut"


def test_inside_block_channels():
  """Inside a G block AN sees conv1's output; inside a D block, conv1's output at res_in."""
  g_vars, d_vars, *_ = run_models(_placement_config("attentive_norm", True))
  g_value = g_vars["params"]["block1"]["nonlocal"]["value"]["kernel"]
  d_value = d_vars["params"]["block2"]["nonlocal"]["value"]["kernel"]
  assert g_value.shape == (1, 1, 16, 16)  # G block1: 8 * 2 channels at 16x16
  assert d_value.shape == (1, 1, 16, 16)  # D block2: 8 * 2 channels at 8x8


# ----------------------------------------------------------------------------
# Spectral norm and BatchNorm state.

def _sn_layer_paths(params):
  """Paths of the SNConv/SNDense/SNEmbed modules (they wrap 'conv'/'dense'/'embed')."""
  return {p[:-2] for p in _paths(params)
          if len(p) >= 2 and p[-2] in ("conv", "dense", "embed")
          and p[-1] in ("kernel", "embedding")}


def _spectral_paths(spectral):
  return {p[:p.index("SpectralNorm_0")] for p in _paths(spectral)}


@pytest.mark.parametrize("kind", ["none", "self_attention"])
@pytest.mark.parametrize("g_spectral", [False, True])
def test_spectral_norm(kind, g_spectral):
  cfg = model_config(g_spectral_norm=g_spectral, g_nonlocal=nonlocal_config(kind, (16,)),
                     d_nonlocal=nonlocal_config(kind, (16,)))
  generator, discriminator = build_models(cfg)
  g_vars, d_vars = abstract_variables(generator, discriminator, cfg)
  # D: spectral norm on every conv / dense / embedding, no BatchNorm.
  assert "batch_stats" not in d_vars
  d_layers = _sn_layer_paths(d_vars["params"])
  assert _spectral_paths(d_vars["spectral"]) == d_layers
  assert {("linear",), ("embed",), ("block0", "conv1")} <= d_layers
  # G: BatchNorm statistics always; spectral state only when configured.
  assert "batch_stats" in g_vars
  if g_spectral:
    assert _spectral_paths(g_vars["spectral"]) == _sn_layer_paths(g_vars["params"])
    assert {("dense",), ("conv_out",), ("block0", "shortcut")} <= _spectral_paths(
        g_vars["spectral"])
  else:
    assert not jax.tree_util.tree_leaves(g_vars.get("spectral", {}))


def test_spectral_state_advances_only_in_training():
  cfg = model_config()
  _, d_vars, _, _, _, d_mut = run_models(cfg)
  before = d_vars["spectral"]["block1"]["conv1"]["SpectralNorm_0"]["conv/kernel/u"]
  after = d_mut["spectral"]["block1"]["conv1"]["SpectralNorm_0"]["conv/kernel/u"]
  assert not np.allclose(before, after)


# ----------------------------------------------------------------------------
# Class conditioning.

def test_generator_depends_on_label():
  cfg = model_config()
  generator, _ = build_models(cfg)
  g_vars, *_ = run_models(cfg)
  z = jnp.repeat(_inputs(cfg)[0][:1], 2, axis=0)
  labels = jnp.array([0, 3])
  apply = lambda v: generator.apply(v, z, labels, train=False)
  # CBN starts with gain 1 and bias 0 for every class: labels act once trained.
  same = apply(g_vars)
  np.testing.assert_allclose(same[0], same[1], atol=1e-6)
  keys = iter(jax.random.split(jax.random.key(3), 100))
  perturb = lambda path, leaf: (
      leaf + 0.5 * jax.random.normal(next(keys), leaf.shape)
      if any(getattr(k, "key", None) in ("gain", "bias") for k in path) and leaf.ndim == 2
      else leaf)
  params = jax.tree_util.tree_map_with_path(perturb, g_vars["params"])
  different = apply({**g_vars, "params": params})
  assert float(jnp.mean(jnp.abs(different[0] - different[1]))) > 1e-3


def test_discriminator_projection_depends_on_label():
  cfg = model_config()
  _, discriminator = build_models(cfg)
  _, d_vars, *_ = run_models(cfg)
  images = jnp.repeat(_inputs(cfg)[1][:1], 2, axis=0)
  labels = jnp.array([0, 3])
  apply = lambda v: discriminator.apply(v, images, labels, train=False)
  logits = apply(d_vars)
  assert abs(float(logits[0] - logits[1])) > 1e-4
  # Only the projection term sees the label: a zero embedding removes the difference.
  params = jax.tree_util.tree_map(lambda x: x, d_vars["params"])
  params["embed"]["embed"]["embedding"] = jnp.zeros_like(params["embed"]["embed"]["embedding"])
  unconditional = apply({**d_vars, "params": params})
  np.testing.assert_allclose(unconditional[0], unconditional[1], rtol=1e-6)


# ----------------------------------------------------------------------------
# bfloat16 compute.

# bfloat16 keeps 8 mantissa bits (relative step 2^-8 = 0.4%); through ~10 layers
# the tiny G differs by about 0.04 at worst and 0.005 on average (outputs' std
# about 0.4), D's logits by about 0.5% of their scale.
G_MAX_ABS, G_MEAN_ABS, D_RELATIVE = 0.1, 0.015, 0.02


def test_bfloat16_close_to_float32():
  kw = dict(g_nonlocal=nonlocal_config("attentive_norm", (16,), True),
            d_nonlocal=nonlocal_config("self_attention", (16,)))
  f32, bf16 = model_config(**kw), model_config(dtype="bfloat16", **kw)
  g_vars, d_vars, fake, _, logits, _ = run_models(f32)
  generator, discriminator = build_models(bf16)
  assert all(x.dtype == jnp.float32 for x in jax.tree_util.tree_leaves((g_vars, d_vars)))
  z, images, labels = _inputs(f32)
  rngs = {"sampling": jax.random.key(2)}
  fake16, g_mut = generator.apply(g_vars, z, labels, train=True, rngs=rngs, mutable=MUTABLE)
  logits16, _ = discriminator.apply(d_vars, images, labels, train=True, rngs=rngs,
                                    mutable=MUTABLE)
  assert fake16.dtype == jnp.float32 and logits16.dtype == jnp.float32
  assert all(x.dtype == jnp.float32 for x in jax.tree_util.tree_leaves(g_mut["batch_stats"]))
  assert float(jnp.max(jnp.abs(fake16 - fake))) < G_MAX_ABS
  assert float(jnp.mean(jnp.abs(fake16 - fake))) < G_MEAN_ABS
  scale = float(jnp.max(jnp.abs(logits)))
  assert float(jnp.max(jnp.abs(logits16 - logits))) < D_RELATIVE * scale


# ----------------------------------------------------------------------------
# Configuration errors.

@pytest.mark.parametrize("field, value, message", [
    ("resolution", 48, "model.resolution"),
    ("g_multipliers", (4, 2, 1), "model.g_multipliers"),
    ("d_multipliers", (1, 2), "model.d_multipliers"),
    ("num_classes", 0, "model.num_classes"),
    ("dtype", "float16", "model.dtype"),
    ("g_nonlocal", nonlocal_config("attention", (16,)), "model.g_nonlocal.kind"),
    ("g_nonlocal", nonlocal_config("self_attention", (64,)), "model.g_nonlocal.resolutions"),
    ("d_nonlocal", nonlocal_config("self_attention", (32,)), "model.d_nonlocal.resolutions"),
    ("g_nonlocal", nonlocal_config("self_attention", (16,), True),
     "model.g_nonlocal.inside_blocks"),
    ("an", dict(num_entities=16, kappa=10.0, key_pool=4, sampling="per_example", affine=False,
                eps=1e-5, orthogonal_form="frobenius"), "model.g_nonlocal.resolutions"),
    ("an", dict(num_entities=16, kappa=10.0, key_pool=2, sampling="random", affine=False,
                eps=1e-5, orthogonal_form="frobenius"), "model.an.sampling"),
])
def test_config_errors_name_the_field(field, value, message):
  cfg = model_config(g_nonlocal=nonlocal_config("attentive_norm", (8,)))
  cfg[field] = value
  with pytest.raises(ValueError, match=message.replace(".", r"\.")):
    build_models(cfg)


def test_width_not_divisible_by_8_where_attention_sits():
  cfg = model_config(ch=4, g_nonlocal=nonlocal_config("self_attention", (32,)))
  with pytest.raises(ValueError, match=r"model\.g_nonlocal\.resolutions.*divisible by 8"):
    build_models(cfg)


def test_missing_field_is_named():
  cfg = model_config(g_nonlocal=nonlocal_config("attentive_norm", (8,)))
  del cfg["an"]["kappa"]
  with pytest.raises(ValueError, match=r"model\.an\.kappa is missing"):
    build_models(cfg)


@pytest.mark.parametrize("path", sorted(
    str(p.stem) for p in (pathlib.Path(__file__).parents[2] / "configs").glob("*.py")
    if p.stem != "__init__"))
def test_project_configs_build(path):
  """Every config in configs/ builds valid models (the schema both sides use)."""
  config = importlib.import_module(f"configs.{path}").get_config()
  generator, discriminator = build_models(config.model)
  assert generator.multipliers == tuple(config.model.g_multipliers)
  assert len(discriminator.multipliers) == len(config.model.d_multipliers)


# ----------------------------------------------------------------------------
# Full-size parameter counts.

FULL_SIZE = {
    # name: (config, G params, D params), from jax.eval_shape of this code.
    "sngan_imagenet128": (lambda: imagenet128_config("none", g_spectral_norm=False),
                          41_996_931, 39_443_137),
    "sagan_imagenet128": (lambda: imagenet128_config("self_attention"), 42_078_852, 39_463_618),
    "an_imagenet128": (lambda: imagenet128_config("attentive_norm"), 42_083_284, 39_465_842),
    "sngan_cifar10": (cifar10_sngan_config, 4_304_387, 1_055_105),
}


@pytest.mark.parametrize("name", sorted(FULL_SIZE))
def test_full_size_parameter_counts(name):
  make_config, g_expected, d_expected = FULL_SIZE[name]
  cfg = make_config()
  g_vars, d_vars = abstract_variables(*build_models(cfg), cfg)
  assert (count(g_vars["params"]), count(d_vars["params"])) == (g_expected, d_expected)


def test_sagan_imagenet128_matches_paper_size():
  """SA-GAN reports about 42M (G) and 39M (D) parameters."""
  cfg = imagenet128_config("self_attention")
  g_vars, d_vars = abstract_variables(*build_models(cfg), cfg)
  assert abs(count(g_vars["params"]) / 1e6 - 42) < 1
  assert abs(count(d_vars["params"]) / 1e6 - 39) < 1
