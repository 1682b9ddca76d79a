"""Shipped configs build abstractly at full size; bad configs fail with the field named."""

import glob
import importlib
import os

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from an_flax.models import build_models
from an_flax.training.config import validate_config
from configs import default
from training.helpers import REPO

# The GAN task's configs: configs/*.py and the ports of other code bases' settings.
CONFIGS = sorted(os.path.relpath(p, os.path.join(REPO, "configs"))[:-3].replace(os.sep, ".")
                 for pattern in ("*.py", "studiogan/*.py", "biggan_pytorch/*.py")
                 for p in glob.glob(os.path.join(REPO, "configs", pattern))
                 if not p.endswith("recipes.py"))


def _count(tree) -> int:
  return int(sum(np.prod(x.shape) for x in jax.tree.leaves(tree)))


@pytest.mark.parametrize("name", CONFIGS)
def test_shipped_config_builds_abstractly(name, record_property):
  config = importlib.import_module(f"configs.{name}").get_config()
  validate_config(config)
  generator, discriminator = build_models(config.model)
  size, batch = config.model.resolution, 2
  z = jax.ShapeDtypeStruct((batch, config.model.z_dim), jnp.float32)
  labels = jax.ShapeDtypeStruct((batch,), jnp.int32)
  images = jax.ShapeDtypeStruct((batch, size, size, 3), jnp.float32)
  key = jax.random.PRNGKey(0)
  g_vars = jax.eval_shape(generator.init, key, z, labels)
  d_vars = jax.eval_shape(discriminator.init, key, images, labels)
  fake = jax.eval_shape(generator.apply, g_vars, z, labels)
  logits = jax.eval_shape(discriminator.apply, d_vars, images, labels)
  assert fake.shape == (batch, size, size, 3) and fake.dtype == jnp.float32
  assert logits.shape == (batch,)
  assert all(x.dtype == jnp.float32 for x in jax.tree.leaves((g_vars, d_vars)))
  counts = {"G": _count(g_vars["params"]), "D": _count(d_vars["params"])}
  record_property("parameters", counts)
  print(f"{name}: G {counts['G']:,} parameters, D {counts['D']:,} parameters")
  assert min(counts.values()) > 0


@pytest.mark.parametrize("field, value, message", [
    ("model.bogus", 1, "config.model.bogus: unknown field"),
    ("batch_size", 12, "config.batch_size=12 does not divide evenly over the 8 devices"),
    ("batch_size", "64", "config.batch_size: '64' is not of type int"),
    ("dataset.image_size", 64, "config.dataset.image_size: 64 differs from model.resolution=32"),
    ("optim.d_steps", 0, "config.optim.d_steps: must be at least 1"),
    ("optim.lr_decay", "cosine", "config.optim.lr_decay: unknown 'cosine'"),
    ("model.g_nonlocal.kind", "transformer", "config.model.g_nonlocal.kind: unknown kind"),
    ("model.spectral_form", "jax", "config.model.spectral_form: unknown 'jax'"),
    ("model.g_cbn_form", "linear", "config.model.g_cbn_form: unknown 'linear'"),
    ("model.init", "he", "config.model.init: unknown 'he'"),
    ("model.architecture", "stylegan", "config.model.architecture: unknown 'stylegan'"),
    ("optim.accumulation_steps", 0, "config.optim.accumulation_steps: must be at least 1"),
    ("optim.g_ortho", -1e-4, "config.optim.g_ortho: must be >= 0"),
    ("loss.lecam_ema_decay", 1.0, "config.loss.lecam_ema_decay: must lie in "),
    ("augment.diffaug_policy", "color,flip",
     "config.augment.diffaug_policy: Unknown DiffAugment policy 'flip'"),
    ("dataset.random_flip", "yes", "config.dataset.random_flip: 'yes' is not of type bool"),
    ("model.bn_axis_name", "data", "config.model.bn_axis_name: was replaced by "
     "config.model.per_device_bn"),
    ("model.per_device_bn", "yes", "config.model.per_device_bn: 'yes' is not of type bool"),
    ("sampling.num_sample", 10, "config.sampling.num_sample: unknown field"),
    ("sampling.batch_size", 12.5,
     "config.sampling.batch_size: 12.5 is not of type int or NoneType"),
    ("eval.num_samples", 10, "config.eval.num_samples: was replaced by the field num_samples "
     "of an evaluator entry config.evals.<name>"),
])
def test_bad_config_is_rejected_naming_the_field(field, value, message):
  config = default.get_config()
  *parents, leaf = field.split(".")
  node = config
  for key in parents:
    if key not in node:  # a group a config file of the old schema would have
      node[key] = ml_collections.ConfigDict()
    node = node[key]
  if leaf in node:
    del node[leaf]  # a config file may give any type, not only a type-safe override
  node[leaf] = value
  with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(".", r"\.")):
    validate_config(config)


def test_missing_field_is_rejected():
  config = default.get_config()
  del config.ema["decay"]
  with pytest.raises(ValueError, match=r"config\.ema\.decay: missing"):
    validate_config(config)
