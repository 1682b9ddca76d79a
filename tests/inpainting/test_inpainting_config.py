"""Inpainting configs: all validate, bad fields are named, ID-MRF wiring without compiling."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from an_flax.inpainting import steps
from an_flax.inpainting.config import validate_config
from an_flax.inpainting.vgg19 import VGG19Features
from an_flax.runtime import mesh as mesh_lib
from configs.inpainting import (celebahq_an, inpaint_default, paris_streetview_an,
                                paris_streetview_none, paris_streetview_self_attention)


@pytest.mark.parametrize("module", [inpaint_default, paris_streetview_an, paris_streetview_none,
                                    paris_streetview_self_attention, celebahq_an])
def test_every_config_validates(module):
  config = module.get_config()
  validate_config(config, training=False)
  if config.loss.id_mrf_weight > 0:  # the paper's settings need the user's VGG19 file
    with pytest.raises(FileNotFoundError, match=r"config\.loss\.vgg19_weights.*torchvision"):
      validate_config(config)
  else:
    validate_config(config)


def test_reference_settings():
  config = paris_streetview_an.get_config()
  assert (config.dataset.image_size, config.batch_size, config.model.width,
          config.model.critic_width, config.optim.critic_steps) == (256, 16, 32, 64, 5)
  assert (config.optim.lr, config.optim.b1, config.optim.b2) == (1e-5, 0.5, 0.9)
  assert (config.loss.adversarial_weight, config.loss.gradient_penalty_weight,
          config.loss.id_mrf_weight, config.loss.discount_gamma) == (1e-3, 10.0, 0.05, 0.9)


@pytest.mark.parametrize("field, value, message", [
    ("model.widht", 3, r"config\.model\.widht: unknown field"),
    ("dataset.image_size", 30, r"config\.dataset\.image_size: 30 is not a multiple of 4"),
    ("dataset.image_size", 24, r"config\.dataset\.image_size: 24 is below 32"),
    ("model.non_local", "contextual", r"config\.model\.non_local: unknown kind 'contextual'"),
    ("masks.kind", "circle", r"config\.masks\.kind"),
    ("batch_size", 12, r"config\.batch_size=12 does not divide"),
    ("loss.discount_gamma", 1.5, r"config\.loss\.discount_gamma"),
    ("optim.critic_steps", 0, r"config\.optim\.critic_steps"),
])
def test_bad_fields_are_named(field, value, message):
  config = inpaint_default.get_config()
  section, _, name = field.rpartition(".")
  (config[section] if section else config)[name] = value
  with pytest.raises(ValueError, match=message):
    validate_config(config)


def test_train_step_with_id_mrf_traces():
  """ID-MRF on: the step's shapes line up with real VGG19 shapes (traced, not compiled)."""
  config = inpaint_default.get_config()
  config.dataset.image_size, config.model.width, config.model.critic_width = 32, 4, 4
  config.loss.id_mrf_weight = 0.05
  generator, critics = steps.build_models(config)
  g_tx, d_tx = steps.make_optimizers(config)
  state = jax.eval_shape(lambda: steps.create_state(config, generator, critics, g_tx, d_tx,
                                                    jax.random.PRNGKey(0)))
  vgg = jax.eval_shape(VGG19Features().init, jax.random.PRNGKey(0), jnp.zeros((1, 16, 16, 3)))
  mesh = mesh_lib.create_mesh()
  step = steps.make_train_step(config, generator, critics, g_tx, d_tx, mesh)
  batch = {"image": jax.ShapeDtypeStruct((2, 8, 32, 32, 3), jnp.uint8)}
  _, metrics = jax.eval_shape(step, state, batch, vgg)
  assert metrics["g_id_mrf"].shape == () and np.dtype(metrics["g_id_mrf"].dtype) == np.float32
