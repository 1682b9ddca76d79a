"""Inpainting as a task of the shared run (`an_flax.runtime.run`).

What is inpainting's own: the config checked and the networks built once, the VGG19
weights of the ID-MRF loss (loaded before anything is built, so a bad file fails at
once), its state and compiled WGAN-GP step (`steps`), and its pictures: a fixed
evaluation batch with centred holes, inpainted, in `<workdir>/pictures/step_<step>.png`;
a fresh run also draws step 0, so the first and last pictures are "before" and "after".
"""

from typing import Any, Dict, Tuple

import jax
import ml_collections
import numpy as np
from absl import logging
from clu import metric_writers
from jax.experimental import multihost_utils
from jax.sharding import Mesh

from an_flax.data import input_pipeline, masks as masks_lib
from an_flax.inpainting import steps
from an_flax.inpainting.config import validate_config
from an_flax.inpainting.vgg19 import load_vgg19
from an_flax.runtime import loop, mesh as mesh_lib, pictures as pictures_lib
from an_flax.runtime.workdir import join

PICTURE_ROWS = 8
COLUMNS = ("input", "coarse", "refined", "composite", "ground truth")


class InpaintingTask:
  """The inpainting task of a config; validating it (a ValueError names the first bad
  field)."""

  outputs = {"pictures": "pictures"}
  compute_dtype = "float32"

  def __init__(self, config: ml_collections.ConfigDict):
    validate_config(config)
    self.config = config
    self.generator, self.critics = steps.build_models(config)
    self.g_tx, self.d_tx = steps.make_optimizers(config)
    self.batches_per_step = config.optim.critic_steps + 1  # the last one is G's
    self._vgg_variables = None

  def check_inputs(self) -> None:
    """Readable data, and the VGG19 weights when the ID-MRF loss is on."""
    input_pipeline.check_available(self.config)
    self._vgg_variables = (load_vgg19(self.config.loss.vgg19_weights)
                           if self.config.loss.id_mrf_weight > 0 else {})

  def init_state(self, key: jax.Array) -> steps.InpaintingState:
    return steps.create_state(self.config, self.generator, self.critics, self.g_tx, self.d_tx,
                              key)

  def make_step(self, mesh: Mesh) -> Tuple[Any, Tuple[Any, ...]]:
    step = steps.make_train_step(self.config, self.generator, self.critics, self.g_tx,
                                 self.d_tx, mesh)
    return step, (jax.device_put(self._vgg_variables, mesh_lib.replicated(mesh)),)

  def parameters(self, state: steps.InpaintingState) -> Dict[str, Any]:
    return {"Generator": state.g_params, "Critics": state.d_params}

  def pictures(self, workdir: str, mesh: Mesh, writer: metric_writers.MetricWriter
               ) -> "Pictures":
    return Pictures(self, workdir, mesh, writer)

  def evaluation_variables(self, state: steps.InpaintingState) -> Any:
    return state.g_params


def picture(outputs: Dict[str, np.ndarray], ground_truth: np.ndarray) -> np.ndarray:
  """One row per example: input, coarse, refined, composite, ground truth[, AN layout argmax]."""
  tiles = [pictures_lib.to_uint8(outputs[name]) for name in COLUMNS[:-1]]
  tiles.append(np.asarray(ground_truth, np.uint8))
  if "layout" in outputs:
    tiles.append(pictures_lib.layout_tiles(outputs["layout"], ground_truth.shape[1])[:, 0])
  row = np.stack(tiles, axis=1)
  return pictures_lib.grid(row.reshape((-1,) + row.shape[2:]), rows=row.shape[0])


class Pictures:
  """Inpaints a fixed evaluation batch (centred holes) and writes the sheet, every
  `picture_every_steps` steps, at the last step, and before a fresh run's first step."""

  def __init__(self, task: InpaintingTask, workdir: str, mesh: Mesh,
               writer: metric_writers.MetricWriter):
    config = task.config
    images = next(input_pipeline.create_eval_dataset(
        config, config.dataset.eval_split, config.eval.batch_size))["image"]
    mask, _ = masks_lib.centered_rectangles(len(images), steps.image_size(config))
    self._batch = mesh_lib.global_batch({"image": images, "mask": np.asarray(mask)}, mesh)
    self._inpaint = steps.make_inpaint_fn(task.generator, mesh)
    self._every = config.picture_every_steps
    self._workdir, self._writer = workdir, writer

  def first(self, state: steps.InpaintingState) -> None:
    if self._every > 0:
      logging.info("Before training: %s", self._draw(state, 0))

  def __call__(self, state: steps.InpaintingState, step: int, last: bool) -> None:
    if loop.every(step, self._every) or (last and self._every):
      logging.info("Pictures: %s", self._draw(state, step))

  def _draw(self, state: steps.InpaintingState, step: int) -> str:
    outputs = self._inpaint(state.g_params, self._batch["image"], self._batch["mask"])
    outputs = multihost_utils.process_allgather(
        {**outputs, "ground truth": self._batch["image"]}, tiled=True)
    outputs = {k: v[:PICTURE_ROWS] for k, v in outputs.items()}
    sheet = picture(outputs, outputs.pop("ground truth"))
    path = join(self._workdir, "pictures", f"step_{step:06d}.png")
    if jax.process_index() == 0:
      pictures_lib.write_png(path, sheet)
      self._writer.write_images(step, {"inpainting": sheet[None]})
    return path
