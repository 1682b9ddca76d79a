"""A tiny config and a compiled step for the tests of the recipe switches."""

import importlib
from typing import Any, Tuple

import jax
import numpy as np

from an_flax.models import build_models
from an_flax.runtime import mesh as mesh_lib
from an_flax.training import state as state_lib
from an_flax.training import steps
from training.helpers import FAST_COMPILE, override


def recipe_config(**fields: Any):
  """configs/cifar10_sngan (no AN, no spectral norm in G) at 16x16, width 4, batch 8,
  4 classes, 1 D step, EMA from step 0; `fields` ('a.b' -> value) on top."""
  config = importlib.import_module("configs.cifar10_sngan").get_config()
  return override(config, {
      "batch_size": 8, "model.resolution": 16, "dataset.image_size": 16,
      "model.num_classes": 4, "model.g_ch": 4, "model.d_ch": 4,
      "model.g_multipliers": (4, 2, 1), "model.d_multipliers": (1, 2, 2),
      "optim.d_steps": 1, "ema.start_step": 0, **fields})


def random_batch(config, rng: np.random.Generator):
  """A step's batch: d_steps * accumulation_steps batches of uint8 images and labels."""
  count = config.optim.d_steps * config.optim.accumulation_steps
  size = config.model.resolution
  return {"image": rng.integers(0, 256, (count, config.batch_size, size, size, 3), np.uint8),
          "label": rng.integers(0, config.model.num_classes, (count, config.batch_size),
                                dtype=np.int32)}


class Step:
  """`config`'s train step compiled on one device, and its initial state on the host.

  `run(batch, state=None)` -> (state, metrics) on the host, from the initial state (or
  `state`): the step donates its state, so each call puts a fresh copy on the device.
  """

  def __init__(self, config, d_loop: str = "unroll"):
    self.config = config
    self.mesh = mesh_lib.create_mesh(jax.devices()[:1])
    self.generator, self.discriminator = build_models(config.model)
    g_tx, d_tx = state_lib.make_optimizers(config)
    init = jax.jit(lambda key: state_lib.create_train_state(
        config, self.generator, self.discriminator, g_tx, d_tx, key),
                   compiler_options=FAST_COMPILE)
    self.initial = mesh_lib.to_host(init(jax.random.PRNGKey(0)))
    step = steps.make_train_step(config, self.generator, self.discriminator, g_tx, d_tx,
                                 self.mesh, d_loop)
    batch = random_batch(config, np.random.default_rng(0))
    self._compiled = step.lower(self._put(self.initial), self._global(batch)).compile(
        FAST_COMPILE)

  def _put(self, state):
    return jax.device_put(state, mesh_lib.replicated(self.mesh))

  def _global(self, batch):
    return mesh_lib.global_batch(batch, self.mesh, 1)

  def run(self, batch, state=None) -> Tuple[Any, dict]:
    state = self.initial if state is None else state
    new_state, metrics = self._compiled(self._put(state), self._global(batch))
    return mesh_lib.to_host(new_state), mesh_lib.to_host(metrics)
