"""Shipped configs' compiled training steps on fixed random batches, for the benchmarks.

Importing this module defines no flags, so any benchmark (and its test) can build steps.
"""

import importlib
import os
import statistics
import sys
import time
from typing import Any, Callable, Dict, Optional, Tuple

import jax
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from an_flax.runtime import xla_cpu  # pylint: disable=g-import-not-at-top
xla_cpu.use()  # before JAX compiles: the options train.py runs with

from an_flax.inpainting import steps as inpainting_steps  # pylint: disable=g-import-not-at-top
from an_flax.models import build_models  # pylint: disable=g-import-not-at-top
from an_flax.runtime import hardware, mesh as mesh_lib, update_loop
from an_flax.training import state as state_lib
from an_flax.training import steps

# Table 4: (name, our config and overrides, batch, StudioGAN's constructor arguments).
PYTORCH_SETTINGS = (
    ("SN-GAN ResNet 32x32", "cifar10_sngan",
     {"model.g_ch": 64, "model.d_ch": 64, "optim.d_steps": 1}, 16,
     {"img_size": 32, "num_classes": 10, "g_conv_dim": 16, "d_conv_dim": 32}),
    ("SN-GAN ResNet 128x128", "imagenet128_sngan", {"optim.d_steps": 1}, 4,
     {"img_size": 128, "num_classes": 1000, "g_conv_dim": 64, "d_conv_dim": 64}),
)


def shipped_config(name: str, overrides: Dict[str, Any], batch_size: int):
  config = importlib.import_module(f"configs.{name}").get_config()
  config.batch_size = batch_size
  config.update_from_flattened_dict(overrides)
  return config


class OurStep:
  """A shipped config's compiled step on all local devices, on one fixed random batch."""

  def __init__(self, config, d_loop: Optional[str] = None):
    self.config = config
    mesh = mesh_lib.create_mesh(jax.local_devices())
    generator, discriminator = build_models(config.model)
    g_tx, d_tx = state_lib.make_optimizers(config)
    self.state = jax.jit(lambda key: state_lib.create_train_state(
        config, generator, discriminator, g_tx, d_tx, key),
                         out_shardings=mesh_lib.replicated(mesh))(jax.random.PRNGKey(0))
    size, d_steps, batch = config.model.resolution, config.optim.d_steps, config.batch_size
    rng = np.random.default_rng(0)
    self.batch = mesh_lib.global_batch({
        "image": rng.integers(0, 256, (d_steps, batch, size, size, 3), np.uint8),
        "label": rng.integers(0, config.model.num_classes, (d_steps, batch), np.int32),
    }, mesh, batch_dim=1)
    jitted = steps.make_train_step(config, generator, discriminator, g_tx, d_tx, mesh, d_loop)
    start = time.perf_counter()
    lowered = jitted.lower(self.state, self.batch)
    self.convolutions = lowered.as_text().count("stablehlo.convolution")
    self.compiled = lowered.compile()
    self.compile_s = time.perf_counter() - start
    # Counted on the unrolled program: the analysis counts a scan's body once.
    if update_loop.resolve_loop(d_loop) != "unroll":
      lowered = steps.make_train_step(config, generator, discriminator, g_tx, d_tx, mesh,
                                      "unroll").lower(self.state, self.batch)
    self.flops = hardware.step_flops(lowered, mesh.size)

  def __call__(self) -> Any:
    self.state, metrics = self.compiled(self.state, self.batch)
    return metrics

  def parameters(self) -> Tuple[int, int]:
    count = lambda tree: sum(x.size for x in jax.tree.leaves(tree))
    return count(self.state.g_params), count(self.state.d_params)


class InpaintingStep:
  """An inpainting config's compiled step on one device, on one fixed random batch."""

  def __init__(self, config, critic_loop: str):
    mesh = mesh_lib.create_mesh(jax.local_devices()[:1])
    generator, critics = inpainting_steps.build_models(config)
    g_tx, d_tx = inpainting_steps.make_optimizers(config)
    self.state = jax.jit(lambda: inpainting_steps.create_state(
        config, generator, critics, g_tx, d_tx, jax.random.PRNGKey(config.seed)),
                         out_shardings=mesh_lib.replicated(mesh))()
    size = config.dataset.image_size
    images = np.random.default_rng(0).integers(
        0, 256, (config.optim.critic_steps + 1, config.batch_size, size, size, 3), np.uint8)
    self.batch = mesh_lib.global_batch({"image": images}, mesh, batch_dim=1)
    jitted = inpainting_steps.make_train_step(config, generator, critics, g_tx, d_tx, mesh,
                                              critic_loop)
    start = time.perf_counter()
    self.compiled = jitted.lower(self.state, self.batch, {}).compile()
    self.compile_s = time.perf_counter() - start

  def __call__(self) -> Any:
    self.state, metrics = self.compiled(self.state, self.batch, {})
    return metrics


def median_step(step: Callable[[], Any], repeats: int) -> float:
  jax.block_until_ready(step())  # the first call after compiling is not timed
  times = []
  for _ in range(repeats):
    start = time.perf_counter()
    jax.block_until_ready(step())
    times.append(time.perf_counter() - start)
  return statistics.median(times)


def torch_step(config, constructor: Dict[str, Any]) -> Tuple[Callable[[], Any], int, int]:
  # Imported here: tables 1 and 2 run where torch is not installed (requirements.txt).
  from benchmarks.pytorch import studiogan, train_step as torch_train_step  # pylint: disable=g-import-not-at-top
  generator, discriminator = studiogan.sngan(**constructor)
  count = lambda model: sum(p.numel() for p in model.parameters())
  step = torch_train_step.make_step(
      generator, discriminator, batch_size=config.batch_size, z_dim=config.model.z_dim,
      num_classes=config.model.num_classes, image_size=config.model.resolution,
      d_steps=config.optim.d_steps, g_lr=config.optim.g_lr, d_lr=config.optim.d_lr,
      betas=(config.optim.b1, config.optim.b2))
  return step, count(generator), count(discriminator)
