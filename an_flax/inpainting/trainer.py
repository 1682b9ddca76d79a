"""`train_inpainting_and_evaluate`: the inpainting training loop.

The same machinery as the class-conditional trainer: config validation before
compiling, a mesh over all devices, Orbax checkpoints in `<workdir>/checkpoints`
with automatic resume, SIGTERM -> save and stop, clu metric writers, a stop
before saving anything non-finite. Pictures of a fixed evaluation batch with
centred holes go to `<workdir>/pictures/step_<step>.png`; a fresh run also
draws step 0, so the first and last pictures are "before" and "after".
"""

import functools
import os
from typing import Any, Dict, Tuple

import jax
import ml_collections
import numpy as np
from absl import logging
from clu import metric_writers, parameter_overview, periodic_actions
from jax.experimental import multihost_utils
from jax.sharding import Mesh

from an_flax.data import masks as masks_lib
from an_flax.inpainting import batches, steps
from an_flax.inpainting.config import validate_config
from an_flax.inpainting.vgg19 import load_vgg19
from an_flax.runtime import loop, mesh as mesh_lib, pictures
from an_flax.runtime.checkpoints import Checkpointer

PICTURE_ROWS = 8
COLUMNS = ("input", "coarse", "refined", "composite", "ground truth")


def restore_or_init(config: ml_collections.ConfigDict, mesh: Mesh, checkpointer: Checkpointer
                    ) -> Tuple[steps.InpaintingState, Any]:
  """The newest checkpoint's state (or a fresh one when there is none), replicated.

  Returns (state, models): models = (generator, critics, g_tx, d_tx).
  """
  generator, critics = steps.build_models(config)
  g_tx, d_tx = steps.make_optimizers(config)
  replicated = mesh_lib.replicated(mesh)
  init = jax.jit(functools.partial(steps.create_state, config, generator, critics,
                                   g_tx, d_tx), out_shardings=replicated)
  step = checkpointer.latest_step()
  if step is None:
    state = init()
  else:
    abstract = jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=replicated),
                            jax.eval_shape(init))
    state = checkpointer.restore(step, abstract, config)
  return state, (generator, critics, g_tx, d_tx)


def picture(outputs: Dict[str, np.ndarray], ground_truth: np.ndarray) -> np.ndarray:
  """One row per example: input, coarse, refined, composite, ground truth[, AN layout argmax]."""
  tiles = [pictures.to_uint8(outputs[name]) for name in COLUMNS[:-1]]
  tiles.append(np.asarray(ground_truth, np.uint8))
  if "layout" in outputs:
    tiles.append(pictures.layout_tiles(outputs["layout"], ground_truth.shape[1])[:, 0])
  row = np.stack(tiles, axis=1)
  return pictures.grid(row.reshape((-1,) + row.shape[2:]), rows=row.shape[0])


class _Pictures:
  """Inpaints a fixed evaluation batch (centred holes) and writes the sheet."""

  def __init__(self, config: ml_collections.ConfigDict, workdir: str, mesh: Mesh,
               generator: Any, writer: metric_writers.MetricWriter):
    images = next(batches.create_eval_iterator(
        config, config.dataset.eval_split, config.eval.batch_size))["image"]
    mask, _ = masks_lib.centered_rectangles(len(images), steps.image_size(config))
    self._batch = mesh_lib.global_batch({"image": images, "mask": np.asarray(mask)}, mesh)
    self._inpaint = steps.make_inpaint_fn(generator, mesh)
    self._workdir, self._writer = workdir, writer

  def __call__(self, state: steps.InpaintingState, step: int) -> str:
    outputs = self._inpaint(state.g_params, self._batch["image"], self._batch["mask"])
    outputs = multihost_utils.process_allgather(
        {**outputs, "ground truth": self._batch["image"]}, tiled=True)
    outputs = {k: v[:PICTURE_ROWS] for k, v in outputs.items()}
    sheet = picture(outputs, outputs.pop("ground truth"))
    path = os.path.join(self._workdir, "pictures", f"step_{step:06d}.png")
    if jax.process_index() == 0:
      pictures.write_png(path, sheet)
      self._writer.write_images(step, {"inpainting": sheet[None]})
    return path


def train_inpainting_and_evaluate(config: ml_collections.ConfigDict, workdir: str
                                  ) -> steps.InpaintingState:
  """Trains until `config.num_train_steps`, resuming from `workdir`; returns the state."""
  validate_config(config)
  mesh = mesh_lib.create_mesh()
  checkpointer = Checkpointer(workdir, config.checkpoint.every_steps, config.checkpoint.keep)
  last_saved = checkpointer.latest_step()
  state, (generator, critics, g_tx, d_tx) = restore_or_init(config, mesh, checkpointer)
  start_step = int(mesh_lib.to_host(state.step))
  vgg_variables = load_vgg19(config.loss.vgg19_weights) if config.loss.id_mrf_weight > 0 else {}

  writer = metric_writers.create_default_writer(workdir, just_logging=jax.process_index() > 0)
  logging.info("Config:\n%s", config)
  for name, params in (("Generator", state.g_params), ("Critics", state.d_params)):
    parameter_overview.log_parameter_overview(mesh_lib.to_host(params), msg=f"{name} parameters")

  train_step = steps.make_train_step(config, generator, critics, g_tx, d_tx, mesh)
  pictures = _Pictures(config, workdir, mesh, generator, writer)
  if start_step == 0 and config.picture_every_steps > 0:
    logging.info("Before training: %s", pictures(state, 0))
  batches_per_step = config.optim.critic_steps + 1
  iterator = batches.create_train_iterator(config, start_step * batches_per_step)
  report = periodic_actions.ReportProgress(
      num_train_steps=config.num_train_steps, writer=writer, every_steps=config.log_every_steps)
  pending: loop.PendingMetrics = []
  with loop.preemptible(checkpointer, writer) as guard:
    # Logged once SIGTERM is handled: from here on a SIGTERM saves and stops.
    logging.info("Training from step %d to %d.", start_step, config.num_train_steps)
    for step in range(start_step + 1, config.num_train_steps + 1):
      batch = mesh_lib.global_batch(loop.stack_batches(iterator, batches_per_step), mesh,
                                    batch_dim=1)
      state, metrics = train_step(state, batch, vgg_variables)
      pending.append((step, metrics))
      report(step)
      stop = guard.should_stop(step)
      final = stop or step == config.num_train_steps
      save = final or checkpointer.due(step)
      if save or loop.every(step, config.log_every_steps):
        writer.write_scalars(step, loop.summarize(pending, last_saved))
        pending = []
      if loop.every(step, config.picture_every_steps) or (final and config.picture_every_steps > 0):
        with report.timed("pictures"):
          logging.info("Pictures: %s", pictures(state, step))
      if save:
        with report.timed("checkpoint"):
          checkpointer.save(step, state, config)
        last_saved = step
      if stop:
        logging.warning("Stopping at step %d on SIGTERM after saving a checkpoint.", step)
        break
  return state
