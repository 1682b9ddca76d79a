"""BigGAN's G and D (an_flax.models.biggan): sizes against the PyTorch transcriptions,
structure, collections, and the non-local module switch."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from an_flax.models import biggan, build_models
from an_flax.models.blocks import NonLocal
from benchmarks.pytorch import biggan as reference

MUTABLE = ["batch_stats", "spectral", "losses", "intermediates"]


def _count(tree) -> int:
  return int(sum(np.prod(leaf.shape) for leaf in jax.tree.leaves(tree)))


def _abstract(module, *shapes_and_dtypes):
  inputs = [jax.ShapeDtypeStruct(shape, dtype) for shape, dtype in shapes_and_dtypes]
  return jax.eval_shape(lambda *x: module.init(jax.random.key(0), *x), *inputs)


def test_full_size_parameter_counts_are_the_pytorch_networks():
  """128x128, ch 96, 1000 classes, z_dim 120: G as StudioGAN's and BigGAN-PyTorch's (the
  same count), D as StudioGAN's; every parameter of ours is a torch parameter and back."""
  torch_count = lambda model: sum(p.numel() for p in model.parameters())
  g_ours = _count(_abstract(biggan.Generator(1000), ((1, 120), jnp.float32),
                            ((1,), jnp.int32))["params"])
  d_ours = _count(_abstract(biggan.discriminator(1000), ((1, 128, 128, 3), jnp.float32),
                            ((1,), jnp.int32))["params"])
  g_studiogan = torch_count(reference.studiogan_generator(128, 1000, 96, init="pytorch"))
  g_biggan = torch_count(reference.biggan_pytorch_generator(128, 1000, 96, init="pytorch"))
  d_studiogan = torch_count(reference.studiogan_discriminator(128, 1000, 96, init="pytorch"))
  print(f"G {g_ours:,} (StudioGAN {g_studiogan:,}, BigGAN-PyTorch {g_biggan:,}), "
        f"D {d_ours:,} (StudioGAN {d_studiogan:,})")
  assert g_ours == g_studiogan == g_biggan
  assert d_ours == d_studiogan


def _tiny(nonlocal_=biggan.SELF_ATTENTION_64, resolution=64):
  multipliers = {32: (4, 4, 4, 4), 64: (16, 16, 8, 4, 2)}[resolution]
  generator = biggan.Generator(10, ch=4, shared_dim=8, multipliers=multipliers,
                               nonlocal_=nonlocal_)
  return generator, len(multipliers) * 4


def test_generator_structure_and_collections():
  """Hierarchical z: the dense layer reads one chunk and every block's BatchNorm gains read
  [shared embedding, chunk] (which chunk goes where, and the numbers: the parity tests of
  tests/convert/test_biggan.py); attention after the 64x64 block; the state resnet_gan's G
  keeps. Shapes only (`jax.eval_shape`): nothing compiles."""
  generator, z_dim = _tiny()
  z, labels = jax.ShapeDtypeStruct((3, z_dim), jnp.float32), jax.ShapeDtypeStruct((3,), jnp.int32)
  variables = jax.eval_shape(generator.init, jax.random.key(0), z, labels)
  params = variables["params"]
  assert set(params) == {"dense", "shared", "block0", "block1", "block2", "block3",
                         "nonlocal64", "bn", "conv_out"}
  assert params["dense"]["dense"]["kernel"].shape == (4, 4 * 4 * 64)
  assert params["shared"]["embedding"].shape == (10, 8)
  assert params["block0"]["bn1"]["gain"]["dense"]["kernel"].shape == (8 + 4, 64)
  assert "shared" not in variables["spectral"]  # the only layer without spectral norm
  images, state = jax.eval_shape(lambda v, z, y: generator.apply(
      v, z, y, train=True, mutable=MUTABLE), variables, z, labels)
  assert images.shape == (3, 64, 64, 3) and images.dtype == jnp.float32
  assert set(state) == {"batch_stats", "spectral"}


def test_z_dim_that_does_not_split_is_named():
  generator, _ = _tiny()
  with pytest.raises(ValueError, match=r"splits z into 5 equal chunks .* z_dim 21 is not a "
                                       r"multiple of 5; use e.g. 100"):
    jax.eval_shape(generator.init, jax.random.key(0), jnp.zeros((1, 21)),
                   jnp.zeros((1,), jnp.int32))


@pytest.mark.parametrize("inside_blocks", [False, True])
def test_attentive_norm_takes_the_attentions_place(inside_blocks):
  """`nonlocal_` decides the module: AN after (or inside) the 32x32 block, with its
  sampling stream, orthogonality penalty and layouts, and no self-attention left."""
  an = NonLocal(kind="attentive_norm", resolutions=(32,), inside_blocks=inside_blocks)
  generator, z_dim = _tiny(an, resolution=32)
  z, labels = jnp.ones((2, z_dim)), jnp.array([1, 2])
  variables = jax.eval_shape(generator.init, jax.random.key(0), z, labels)
  host = variables["params"]["block2"]["nonlocal"] if inside_blocks else \
      variables["params"]["nonlocal32"]
  assert {"entity", "rho"} <= set(host)
  _, state = jax.eval_shape(lambda v: generator.apply(
      v, z, labels, train=True, mutable=MUTABLE, rngs={"sampling": jax.random.key(3)}),
                            variables)
  assert jax.tree.leaves(state["losses"]) and jax.tree.leaves(state["intermediates"])
  d = biggan.discriminator(10, ch=2, multipliers=(2, 2, 2, 2), final_resolution=8,
                           nonlocal_=NonLocal(kind="attentive_norm", resolutions=(16,)))
  d_vars = jax.eval_shape(d.init, jax.random.key(0), jnp.zeros((2, 32, 32, 3)), labels)
  assert "nonlocal16" in d_vars["params"] and "gamma" not in d_vars["params"]["nonlocal16"]


def _biggan_model_config():
  from configs.studiogan import imagenet128_biggan  # pylint: disable=import-outside-toplevel
  return imagenet128_biggan.get_config().model


def test_build_models_gives_the_configs_biggan():
  """`model.architecture='biggan'`: BigGAN's G with the config's widths, embedding, z and
  layers, and the projection D; `hierarchical_z=False` takes any z_dim."""
  model = _biggan_model_config()
  generator, discriminator = build_models(model)
  assert isinstance(generator, biggan.Generator)
  assert (generator.ch, generator.shared_dim, generator.hierarchical) == (96, 128, True)
  assert generator.layers == biggan.STUDIOGAN_LAYERS
  assert generator.nonlocal_.kind == "self_attention" and generator.nonlocal_.resolutions == (64,)
  assert discriminator.ch == 96 and discriminator.activated_shortcut
  assert discriminator.nonlocal_.resolutions == (64,)
  model.hierarchical_z, model.z_dim = False, 100
  generator, _ = build_models(model)
  assert not generator.hierarchical
  params = _abstract(generator, ((1, 100), jnp.float32), ((1,), jnp.int32))["params"]
  assert params["dense"]["dense"]["kernel"].shape == (100, 4 * 4 * 96 * 16)
  assert params["block0"]["bn1"]["gain"]["dense"]["kernel"].shape == (128, 96 * 16)


@pytest.mark.parametrize("field, value, message", [
    ("architecture", "stylegan", r"model\.architecture: unknown 'stylegan'; use one of "
                                 r"\('resnet', 'biggan'\)"),
    ("g_cbn_form", "table", r"model\.g_cbn_form: 'table' for architecture 'biggan'; set it "
                            r"'one_plus'"),
    ("g_spectral_norm", False, r"model\.g_spectral_norm: False for architecture 'biggan'"),
    ("z_dim", 100, r"model\.z_dim: 100 does not split into 6 equal chunks .* or set "
                   r"model\.hierarchical_z=False"),
    ("shared_dim", 0, r"model\.shared_dim: got 0"),
])
def test_a_biggan_config_that_does_not_fit_is_named(field, value, message):
  model = _biggan_model_config()
  model[field] = value
  with pytest.raises(ValueError, match=message):
    build_models(model)
