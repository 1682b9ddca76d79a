"""`train_inpainting_and_evaluate`: the inpainting task's run around its compiled step.

The shared runtime does the rest, as for the GAN task: config and workdir checks before
anything is built, a workdir lock, a mesh over all devices, Orbax checkpoints in
`<workdir>/checkpoints` with automatic resume (falling back past damaged ones), SIGTERM
-> save and stop, clu metric writers, a stop before saving anything non-finite
(`an_flax.runtime.loop.train_loop`). Pictures of a fixed evaluation batch with centred
holes go to `<workdir>/pictures/step_<step>.png`; a fresh run also draws step 0, so the
first and last pictures are "before" and "after".
"""

import functools
import os
from typing import Any, Dict, Tuple

import jax
import ml_collections
import numpy as np
from absl import logging
from clu import metric_writers, parameter_overview
from jax.experimental import multihost_utils
from jax.sharding import Mesh

from an_flax.data import input_pipeline, masks as masks_lib
from an_flax.inpainting import steps
from an_flax.inpainting.config import validate_config
from an_flax.inpainting.vgg19 import load_vgg19
from an_flax.runtime import loop, mesh as mesh_lib, pictures, workdir as workdir_lib
from an_flax.runtime.checkpoints import Checkpointer
from an_flax.runtime.preemption import PreemptionGuard

PICTURE_ROWS = 8
COLUMNS = ("input", "coarse", "refined", "composite", "ground truth")


def restore_or_init(config: ml_collections.ConfigDict, mesh: Mesh, checkpointer: Checkpointer
                    ) -> Tuple[steps.InpaintingState, int, Any]:
  """The newest readable checkpoint's state (or a fresh one when there is none), replicated.

  Returns (state, step, models): models = (generator, critics, g_tx, d_tx).
  """
  generator, critics = steps.build_models(config)
  g_tx, d_tx = steps.make_optimizers(config)
  replicated = mesh_lib.replicated(mesh)
  init = jax.jit(functools.partial(steps.create_state, config, generator, critics,
                                   g_tx, d_tx), out_shardings=replicated)
  abstract = jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=replicated),
                          jax.eval_shape(init))
  restored = checkpointer.restore_latest(abstract, config)
  state, step = restored if restored is not None else (init(), 0)
  return state, step, (generator, critics, g_tx, d_tx)


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
    images = next(input_pipeline.create_eval_dataset(
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
  """Trains until `config.num_train_steps`, resuming from `workdir`; returns the state.

  Raises `an_flax.runtime.preemption.Preempted` after saving when SIGTERM arrives.
  """
  validate_config(config)
  input_pipeline.check_available(config)
  workdir_lib.check_writable(workdir)
  # Loaded before anything is built, so a bad weights file fails at once.
  vgg_variables = load_vgg19(config.loss.vgg19_weights) if config.loss.id_mrf_weight > 0 else {}
  with workdir_lib.WorkdirLock(workdir):
    mesh = mesh_lib.create_mesh()
    checkpointer = Checkpointer(workdir, config.checkpoint.every_steps, config.checkpoint.keep)
    writer = metric_writers.create_default_writer(workdir, just_logging=jax.process_index() > 0)
    with loop.preemptible(checkpointer, writer) as guard:
      state = _run(config, workdir, mesh, checkpointer, writer, guard,
                   jax.device_put(vgg_variables, mesh_lib.replicated(mesh)))
  logging.info("Finished at step %d.", config.num_train_steps)
  return state


def _abstract_batch(config: ml_collections.ConfigDict, mesh: Mesh
                    ) -> Dict[str, jax.ShapeDtypeStruct]:
  """critic_steps + 1 batches of uint8 images (the label rides along unused)."""
  shape = (config.optim.critic_steps + 1, config.batch_size)
  size = config.dataset.image_size
  sharding = mesh_lib.batch_sharding(mesh, 1)
  return {"image": jax.ShapeDtypeStruct(shape + (size, size, 3), np.uint8, sharding=sharding),
          "label": jax.ShapeDtypeStruct(shape, np.int32, sharding=sharding)}


def _run(config: ml_collections.ConfigDict, workdir: str, mesh: Mesh,
         checkpointer: Checkpointer, writer: metric_writers.MetricWriter,
         guard: PreemptionGuard, vgg_variables: Any) -> steps.InpaintingState:
  logging.info("Outputs: checkpoints in %s, pictures in %s, TensorBoard events in %s.",
               checkpointer.directory, os.path.join(os.path.abspath(workdir), "pictures"),
               os.path.abspath(workdir))
  logging.info("Config:\n%s", config)
  input_pipeline.prepare(config)
  state, start_step, (generator, critics, g_tx, d_tx) = guard.interruptible(
      lambda: restore_or_init(config, mesh, checkpointer), checkpointer.latest_step())
  for name, params in (("Generator", state.g_params), ("Critics", state.d_params)):
    parameter_overview.log_parameter_overview(mesh_lib.to_host(params), msg=f"{name} parameters")

  compiled, flops = loop.compile_step(
      steps.make_train_step(config, generator, critics, g_tx, d_tx, mesh),
      (state, _abstract_batch(config, mesh), vgg_variables), guard, checkpointer.latest_step())
  train_step = lambda state, batch: compiled(state, batch, vgg_variables)
  pictures = _Pictures(config, workdir, mesh, generator, writer)
  if start_step == 0 and config.picture_every_steps > 0:
    logging.info("Before training: %s", pictures(state, 0))
  batches_per_step = config.optim.critic_steps + 1
  host_batches = input_pipeline.create_train_iterator(config, start_step * batches_per_step)
  prefetcher = loop.DevicePrefetcher(loop.stack_batches(host_batches, batches_per_step),
                                     lambda batch: mesh_lib.global_batch(batch, mesh, 1))

  def after_step(state: steps.InpaintingState, step: int, last: bool) -> None:
    if loop.every(step, config.picture_every_steps) or (last and config.picture_every_steps):
      logging.info("Pictures: %s", pictures(state, step))

  # Logged once the step is compiled: from here on a SIGTERM saves a checkpoint and stops.
  logging.info("Training from step %d to %d.", start_step, config.num_train_steps)
  try:
    return loop.train_loop(
        config, state=state, start_step=start_step, train_step=train_step, batches=prefetcher,
        cost=loop.StepCost(batches_per_step * config.batch_size, flops, "float32"),
        checkpointer=checkpointer, guard=guard, writer=writer, workdir=workdir,
        after_step=after_step)
  finally:
    prefetcher.close()
