"""The generator to evaluate, from a training checkpoint: G_ema (or G), optionally with
standing statistics. Needs the run's config, not its data."""

import dataclasses
import functools
import os
from typing import Any, Optional

import flax.linen as nn
import jax
import ml_collections
from absl import logging
from jax.sharding import Mesh

from an_flax.evaluation import standing_stats
from an_flax.models import build_models
from an_flax.runtime import mesh as mesh_lib
from an_flax.runtime.checkpoints import Checkpointer
from an_flax.training.state import (
    TrainState, create_train_state, generator_train_apply, make_optimizers)

# Offsets folded into the config's seed: one independent stream per use.
STANDING_STATS_STREAM = 3


@dataclasses.dataclass(frozen=True)
class RestoredGenerator:
  """What evaluation samples from, and where it came from (for the protocol record)."""

  generator: nn.Module
  variables: Any  # {'params', 'batch_stats', 'spectral'}, replicated over the mesh
  step: int
  checkpoint: str
  use_ema: bool
  standing_stats_batches: int


def restore_train_state(config: ml_collections.ConfigDict, workdir: str, mesh: Mesh,
                        step: Optional[int] = None) -> tuple[TrainState, int, str]:
  """(state, step, checkpoint path): `step`, or the newest readable checkpoint of `workdir`.

  Read-only: nothing is created, and a damaged newest checkpoint is skipped, not moved.
  """
  try:
    checkpointer = Checkpointer(workdir, config.checkpoint.every_steps, config.checkpoint.keep,
                                read_only=True)
  except FileNotFoundError as error:
    raise FileNotFoundError(f"{error} Point --workdir at a training run's directory, or "
                            f"train with `python train.py --config=<config> "
                            f"--workdir={workdir}`.") from error
  try:
    available = checkpointer.all_steps()
    if not available or (step is not None and step not in available):
      raise FileNotFoundError(f"No checkpoint of step {step if step is not None else '(any)'} "
                              f"in {checkpointer.directory}; steps there: {available}.")
    generator, discriminator = build_models(config.model)
    g_tx, d_tx = make_optimizers(config)
    init = functools.partial(create_train_state, config, generator, discriminator, g_tx, d_tx)
    replicated = mesh_lib.replicated(mesh)
    abstract = jax.tree.map(
        lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=replicated),
        jax.eval_shape(init, jax.random.PRNGKey(0)))
    if step is None:
      state, step = checkpointer.restore_latest(abstract, config)
    else:
      state = checkpointer.restore(step, abstract, config)
  finally:
    checkpointer.close()
  return state, step, os.path.join(checkpointer.directory, str(step))


def restore_generator(config: ml_collections.ConfigDict, workdir: str, mesh: Mesh,
                      step: Optional[int] = None) -> RestoredGenerator:
  """G_ema (or G with `eval.use_ema=False`), with standing statistics when configured."""
  options = config.eval
  state, step, checkpoint = restore_train_state(config, workdir, mesh, step)
  generator, _ = build_models(config.model)
  params, g_state = ((state.ema_params, state.ema_state) if options.use_ema
                     else (state.g_params, state.g_state))
  if options.standing_stats_batches:
    logging.info("Standing statistics: %d train-mode batches of %d.",
                 options.standing_stats_batches, config.batch_size)
    key = jax.random.fold_in(jax.random.PRNGKey(config.seed), STANDING_STATS_STREAM)
    latent_key, sampling_key = jax.random.split(key)
    latents = standing_stats.standing_latents(
        latent_key, options.standing_stats_batches, config.batch_size, config.model.z_dim,
        config.model.num_classes, options.truncation, mesh)
    train_apply = generator_train_apply(generator, mesh, config.model.per_device_bn)
    g_state = standing_stats.standing_statistics(train_apply, params, g_state, latents,
                                                 sampling_key, mesh)
  return RestoredGenerator(generator, {"params": params, **g_state}, step, checkpoint,
                           options.use_ema, options.standing_stats_batches)
