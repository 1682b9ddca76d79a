"""BigGAN in the GAN task: the shipped BigGAN configs' step at full size, traced
(`jax.eval_shape`, the updates as the accelerators run them, in a scan: compiling the
128x128, ch 96 step at batch 2 took 69 s on a 2-core CPU), and BigGAN-AN's 128x128 step at
a twelfth of the width, with one D step, compiled and run at batch 2."""

import importlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from an_flax.models import biggan
from an_flax.runtime import mesh as mesh_lib
from an_flax.training import state as state_lib, steps
from an_flax.training.config import validate_config
from training.recipe_helpers import Step, random_batch
from training.helpers import override

BIGGAN_CONFIGS = ("studiogan.imagenet128_biggan", "imagenet128_biggan_an",
                  "biggan_pytorch.imagenet128_bs256x8", "studiogan.cifar10_biggan_diffaug_lecam")


def _config(name: str):
  return importlib.import_module(f"configs.{name}").get_config()


@pytest.mark.parametrize("name", BIGGAN_CONFIGS)
def test_full_size_step_keeps_the_state_and_reports_its_switches(name):
  """The step of the config as shipped (batch 2 per micro-batch): BigGAN's G, a new state
  of the same shapes, and the metrics of its switches (LeCam's term where it is on)."""
  config = _config(name)
  generator, discriminator = validate_config(config)
  assert isinstance(generator, biggan.Generator)
  config.batch_size = 2
  g_tx, d_tx = state_lib.make_optimizers(config)
  abstract = jax.eval_shape(lambda key: state_lib.create_train_state(
      config, generator, discriminator, g_tx, d_tx, key), jax.random.PRNGKey(0))
  size = config.model.resolution
  shape = (config.optim.d_steps * config.optim.accumulation_steps, 2)
  batch = {"image": jax.ShapeDtypeStruct(shape + (size, size, 3), jnp.uint8),
           "label": jax.ShapeDtypeStruct(shape, jnp.int32)}
  step = steps.make_train_step(config, generator, discriminator, g_tx, d_tx,
                               mesh_lib.create_mesh(jax.devices()[:1]), d_loop="scan")
  new_state, metrics = jax.eval_shape(step, abstract, batch)
  assert jax.tree.structure(new_state) == jax.tree.structure(abstract)
  for a, b in zip(jax.tree.leaves(new_state), jax.tree.leaves(abstract)):
    assert (a.shape, a.dtype) == (b.shape, b.dtype)
  assert ("d_lecam" in metrics) == (config.loss.lecam_lambda > 0)
  assert (abstract.lecam is not None) == (config.loss.lecam_lambda > 0)


def test_biggan_an_step_compiles_and_trains_at_reduced_width():
  """imagenet128_biggan_an at 128x128 with every block, ch 8 (not 96), 10 classes, 1 D step
  (not 2), batch 2: one step moves G, D and G_ema, with AN's penalties in both networks,
  all finite."""
  config = override(_config("imagenet128_biggan_an"), {
      "model.g_ch": 8, "model.d_ch": 8, "model.num_classes": 10, "batch_size": 2,
      "optim.d_steps": 1, "ema.start_step": 0})
  step = Step(config)
  before = step.initial
  after, metrics = step.run(random_batch(config, np.random.default_rng()))
  assert metrics["finite"] == 1 and all(np.isfinite(v) for v in metrics.values()), metrics
  assert metrics["g_orthogonal"] > 0 and metrics["d_orthogonal"] > 0
  for name in ("g_params", "d_params", "ema_params"):
    assert any(not np.array_equal(a, b) for a, b in zip(
        jax.tree.leaves(getattr(before, name)), jax.tree.leaves(getattr(after, name)))), name
  assert "shared" in after.g_params and "nonlocal64" in after.g_params
