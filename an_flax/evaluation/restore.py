"""The generator to evaluate, from a training checkpoint: G_ema (or G), optionally with
standing statistics. Needs the run's config, not its data."""

import dataclasses
import functools
from typing import Any, Optional, Tuple

import flax.linen as nn
import jax
import ml_collections
from absl import logging
from jax.sharding import Mesh

from an_flax.evaluation import standing_stats
from an_flax.models import build_models
from an_flax.runtime import checkpoints, streams
from an_flax.training.state import (
    TrainState, create_train_state, generator_train_apply, make_optimizers)

Models = Tuple[nn.Module, nn.Module]  # (generator, discriminator)


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
                        step: Optional[int] = None, models: Optional[Models] = None
                        ) -> Tuple[TrainState, int, str]:
  """(state, step, checkpoint path): `step`, or the newest readable checkpoint of `workdir`.

  Read-only: nothing is created, and a damaged newest checkpoint is skipped, not moved.
  """
  generator, discriminator = models or build_models(config.model)
  init = functools.partial(create_train_state, config, generator, discriminator,
                           *make_optimizers(config))
  return checkpoints.restore_for_reading(
      workdir, config, checkpoints.abstract_state(init, mesh), step,
      f"Point --workdir at a training run's directory, or train with `python train.py "
      f"--config=<config> --workdir={workdir}`.")


def restore_generator(config: ml_collections.ConfigDict, workdir: str, mesh: Mesh,
                      step: Optional[int] = None, models: Optional[Models] = None
                      ) -> RestoredGenerator:
  """G_ema (or G with `sampling.use_ema=False`), with standing statistics when configured."""
  options = config.sampling
  models = models or build_models(config.model)
  state, step, checkpoint = restore_train_state(config, workdir, mesh, step, models)
  generator = models[0]
  params, g_state = ((state.ema_params, state.ema_state) if options.use_ema
                     else (state.g_params, state.g_state))
  if options.standing_stats_batches:
    logging.info("Standing statistics: %d train-mode batches of %d.",
                 options.standing_stats_batches, config.batch_size)
    key = streams.key(config.seed, streams.Stream.STANDING_STATS)
    latent_key, sampling_key = jax.random.split(key)
    latents = standing_stats.standing_latents(
        latent_key, options.standing_stats_batches, config.batch_size, config.model.z_dim,
        config.model.num_classes, options.truncation, mesh)
    train_apply = generator_train_apply(generator, mesh, config.model.per_device_bn)
    g_state = standing_stats.standing_statistics(train_apply, params, g_state, latents,
                                                 sampling_key, mesh)
  return RestoredGenerator(generator, {"params": params, **g_state}, step, checkpoint,
                           options.use_ema, options.standing_stats_batches)
