"""`train_and_evaluate`: the training loop around the compiled step.

It validates the config, builds the mesh, restores the newest checkpoint of
`workdir` (or initialises), then steps, logs, draws pictures and saves until
`num_train_steps` or SIGTERM. Non-finite losses or parameters stop the run
before anything bad is saved.
"""

import functools
import os
import time
from typing import Callable, Dict

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from absl import logging
from clu import metric_writers, parameter_overview, periodic_actions

from an_flax.data import input_pipeline
from an_flax.evaluation.evaluate import make_training_fid
from an_flax.models import build_models
from an_flax.training import mesh as mesh_lib
from an_flax.training import loop, steps, visualize
from an_flax.training.checkpoints import Checkpointer
from an_flax.training.configuration import validate_config
from an_flax.training.state import TrainState, create_train_state, make_optimizers

SAMPLE_ROWS = 10  # classes shown in a sample sheet
SAMPLE_COLUMNS = 8  # noise vectors per class, shared by all rows
LAYOUT_EXAMPLES = 6  # sheet rows shown in a layout picture


class _Pictures:
  """Class-conditional sample sheets and AN layout maps of G_ema on fixed noise."""

  def __init__(self, config: ml_collections.ConfigDict, workdir: str, sample_fn,
               writer: metric_writers.MetricWriter):
    classes = visualize.sample_classes(config.model.num_classes, SAMPLE_ROWS)
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
      sheet = visualize.sample_sheet(images, self._rows)
      visualize.write_png(os.path.join(self._workdir, "samples", f"step_{step:06d}.png"), sheet)
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
    picture = visualize.layout_picture(images[pick], {k: v[pick] for k, v in layouts.items()})
    visualize.write_png(os.path.join(self._workdir, "layouts", f"step_{step:06d}.png"), picture)
    self._writer.write_images(step, {"layouts": picture[None]})
    logging.info("Layout picture rows: image, then per module (%s) argmax + entity maps.",
                 ", ".join(sorted(layouts)))


def _periodic_fid(config: ml_collections.ConfigDict,
                  training_fid: Callable[[TrainState], Dict[str, float]],
                  writer: metric_writers.MetricWriter) -> periodic_actions.PeriodicCallback:
  """Writes G_ema's `fid` and `inception_score` every `config.eval.fid_every_steps` steps
  and at the last step."""

  def write_fid(step: int, t: float, state: TrainState) -> None:
    del t  # the time of the trigger; unused
    scores = training_fid(state)
    logging.info("Step %d: FID %.6g, Inception Score %.6g (%d samples of G_ema).", step,
                 scores["fid"], scores["inception_score"], config.eval.fid_num_samples)
    writer.write_scalars(step, scores)

  return periodic_actions.PeriodicCallback(
      every_steps=config.eval.fid_every_steps, on_steps=[config.num_train_steps],
      callback_fn=write_fid)


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


def fingerprint(state: TrainState) -> float:
  """Sum of |x| over the state's float arrays, in float64: a cheap equality check."""
  leaves = [np.asarray(x, np.float64) for x in jax.tree.leaves(mesh_lib.to_host(state))
            if jnp.issubdtype(x.dtype, jnp.floating)]
  return float(sum(np.abs(x).sum() for x in leaves))


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str) -> TrainState:
  """Trains until `config.num_train_steps` (resuming from `workdir`); returns the state."""
  validate_config(config)
  mesh = mesh_lib.create_mesh(config.model.bn_axis_name)
  # Loads the Inception weights and reference statistics first: a missing file fails now.
  training_fid = (make_training_fid(config, mesh) if config.eval.fid_every_steps > 0
                  else None)
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
  fid = _periodic_fid(config, training_fid, writer) if training_fid else None
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
      if fid is not None and not stop:
        with report.timed("fid"):
          fid(step, state=state)
      if stop:
        logging.warning("Stopping at step %d on SIGTERM after saving a checkpoint.", step)
        break
  logging.info("Finished at step %d; state fingerprint %r.", int(mesh_lib.to_host(state.step)),
               fingerprint(state))
  return state
