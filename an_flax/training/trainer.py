"""`train_and_evaluate`: the training loop around the compiled step.

It validates the config, builds the mesh, restores the newest checkpoint of
`workdir` (or initialises), then steps, logs, draws pictures, runs the
evaluators it is given and saves until `num_train_steps` or SIGTERM.
Non-finite losses or parameters stop the run before anything bad is saved.
"""

import functools
import os
import time
from typing import Any, Dict, Protocol, Sequence

import flax.linen as nn
import jax
import ml_collections
import numpy as np
from absl import logging
from clu import metric_writers, parameter_overview, periodic_actions

from an_flax.data import input_pipeline
from an_flax.models import build_models
from an_flax.runtime import loop, mesh as mesh_lib, pictures as pictures_lib
from an_flax.runtime.checkpoints import Checkpointer
from an_flax.training import steps
from an_flax.training.config import validate_config
from an_flax.training.state import TrainState, create_train_state, make_optimizers

SAMPLE_ROWS = 10  # classes shown in a sample sheet
SAMPLE_COLUMNS = 8  # noise vectors per class, shared by all rows
LAYOUT_EXAMPLES = 6  # sheet rows shown in a layout picture


class Evaluator(Protocol):
  """Scores G_ema during training; built from the config by the entry point (train.py).

  Called with G_ema's variables ({'params', 'batch_stats', 'spectral'}) every
  `every_steps` steps and at the last step, on every process; returns named scalars.
  """

  every_steps: int

  def __call__(self, variables: Any) -> Dict[str, float]:
    ...


class _Pictures:
  """Class-conditional sample sheets and AN layout maps of G_ema on fixed noise."""

  def __init__(self, config: ml_collections.ConfigDict, workdir: str, sample_fn,
               writer: metric_writers.MetricWriter):
    classes = pictures_lib.sample_classes(config.model.num_classes, SAMPLE_ROWS)
    noise = jax.random.normal(jax.random.PRNGKey(config.seed + 1),
                              (SAMPLE_COLUMNS, config.model.z_dim))
    self._rows = len(classes)
    self._z = np.tile(np.asarray(noise), (self._rows, 1))
    self._labels = np.repeat(np.asarray(classes, np.int32), SAMPLE_COLUMNS)
    self._workdir, self._sample_fn, self._writer = workdir, sample_fn, writer
    self._warned_no_layouts = False

  def __call__(self, state: TrainState, step: int, samples: bool, layouts: bool) -> None:
    images, g_layouts, d_layouts = mesh_lib.to_host(self._sample_fn(state, self._z, self._labels))
    if jax.process_index() > 0:
      return
    if samples:
      sheet = pictures_lib.sample_sheet(images, self._rows)
      pictures_lib.write_png(os.path.join(self._workdir, "samples", f"step_{step:06d}.png"), sheet)
      self._writer.write_images(step, {"samples": sheet[None]})
    if layouts:
      self._write_layouts(step, images, {**{f"G/{k}": v for k, v in g_layouts.items()},
                                         **{f"D/{k}": v for k, v in d_layouts.items()}})

  def _write_layouts(self, step: int, images: np.ndarray, layouts: Dict[str, np.ndarray]) -> None:
    if not layouts:
      if not self._warned_no_layouts:
        logging.info("The model has no Attentive Normalization: no layout pictures.")
        self._warned_no_layouts = True
      return
    pick = np.arange(min(self._rows, LAYOUT_EXAMPLES)) * SAMPLE_COLUMNS  # one per class
    picture = pictures_lib.layout_picture(images[pick], {k: v[pick] for k, v in layouts.items()})
    pictures_lib.write_png(os.path.join(self._workdir, "layouts", f"step_{step:06d}.png"), picture)
    self._writer.write_images(step, {"layouts": picture[None]})
    logging.info("Layout picture rows: image, then per module (%s) argmax + entity maps.",
                 ", ".join(sorted(layouts)))


def restore_or_initialize(config: ml_collections.ConfigDict, mesh: jax.sharding.Mesh,
                          generator: nn.Module, discriminator: nn.Module,
                          checkpointer: Checkpointer) -> TrainState:
  """The newest checkpoint's state, or a fresh one from `config.seed`; replicated on `mesh`."""
  g_tx, d_tx = make_optimizers(config)
  replicated = mesh_lib.replicated(mesh)
  init = jax.jit(functools.partial(create_train_state, config, generator, discriminator,
                                   g_tx, d_tx), out_shardings=replicated)
  rng = jax.random.PRNGKey(config.seed)
  step = checkpointer.latest_step()
  if step is None:
    return init(rng)
  abstract = jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=replicated),
                          jax.eval_shape(init, rng))
  return checkpointer.restore(step, abstract, config)


def due_evaluators(evaluators: Sequence[Evaluator], step: int, last: bool) -> list[Evaluator]:
  """The evaluators to run after `step`: every `every_steps` steps, and all at the last."""
  return [e for e in evaluators if last or loop.every(step, e.every_steps)]


def _evaluate(evaluators: Sequence[Evaluator], state: TrainState, step: int,
              writer: metric_writers.MetricWriter) -> None:
  """Runs `evaluators` on G_ema and writes their scores."""
  variables = {"params": state.ema_params, **state.ema_state}
  for evaluator in evaluators:
    scores = evaluator(variables)
    logging.info("Step %d: %s.", step,
                 ", ".join(f"{name} {value:.6g}" for name, value in sorted(scores.items())))
    writer.write_scalars(step, scores)


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str,
                       evaluators: Sequence[Evaluator] = ()) -> TrainState:
  """Trains until `config.num_train_steps` (resuming from `workdir`); returns the state."""
  validate_config(config)
  mesh = mesh_lib.create_mesh()
  generator, discriminator = build_models(config.model)
  g_tx, d_tx = make_optimizers(config)
  checkpointer = Checkpointer(workdir, config.checkpoint.every_steps, config.checkpoint.keep)
  last_saved = checkpointer.latest_step()
  state = restore_or_initialize(config, mesh, generator, discriminator, checkpointer)
  start_step = int(mesh_lib.to_host(state.step))

  writer = metric_writers.create_default_writer(workdir, just_logging=jax.process_index() > 0)
  logging.info("Config:\n%s", config)
  for name, params in (("Generator", state.g_params), ("Discriminator", state.d_params)):
    parameter_overview.log_parameter_overview(mesh_lib.to_host(params), msg=f"{name} parameters")

  train_step = steps.make_train_step(config, generator, discriminator, g_tx, d_tx, mesh)
  pictures = _Pictures(config, workdir, steps.make_sample_fn(generator, discriminator, mesh),
                       writer)
  d_steps = config.optim.d_steps
  iterator = input_pipeline.create_train_iterator(config, start_step * d_steps)
  report = periodic_actions.ReportProgress(
      num_train_steps=config.num_train_steps, writer=writer, every_steps=config.log_every_steps)
  pending: loop.PendingMetrics = []
  window_start, window_steps = time.monotonic(), 0
  with loop.preemptible(checkpointer, writer) as guard:
    # Logged once SIGTERM is handled: from here on a SIGTERM saves and stops.
    logging.info("Training from step %d to %d.", start_step, config.num_train_steps)
    for step in range(start_step + 1, config.num_train_steps + 1):
      batch = mesh_lib.global_batch(loop.stack_batches(iterator, d_steps), mesh, batch_dim=1)
      state, metrics = train_step(state, batch)
      pending.append((step, metrics))
      window_steps += 1
      report(step)
      stop = guard.should_stop(step)
      last = step == config.num_train_steps
      save = stop or last or checkpointer.due(step)
      if save or loop.every(step, config.log_every_steps):
        scalars = loop.summarize(pending, last_saved)
        elapsed = time.monotonic() - window_start
        scalars["images_per_sec_per_device"] = (
            window_steps * d_steps * config.batch_size / elapsed / jax.device_count())
        writer.write_scalars(step, scalars)
        pending, window_start, window_steps = [], time.monotonic(), 0
      if save:
        with report.timed("checkpoint"):
          checkpointer.save(step, state, config)
        last_saved = step
      samples = loop.every(step, config.sample_every_steps) or last
      layouts = loop.every(step, config.layout_every_steps) or last
      if (samples or layouts) and not stop:  # a preempted job has no time for pictures
        with report.timed("pictures"):
          pictures(state, step, samples, layouts)
      due = due_evaluators(evaluators, step, last)
      if due and not stop:
        with report.timed("evaluation"):
          _evaluate(due, state, step, writer)
      if stop:
        logging.warning("Stopping at step %d on SIGTERM after saving a checkpoint.", step)
        break
  logging.info("Finished at step %d.", int(mesh_lib.to_host(state.step)))
  return state
