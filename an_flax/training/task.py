"""The class-conditional GAN as a task of the shared run (`an_flax.runtime.run`).

What is the GAN's own: the config checked and the networks built once, its train state
(`state`), its compiled step (`steps`: d_steps D updates, one G update, EMA, each update
over accumulation_steps micro-batches), its
pictures (class-conditional sample sheets of G_ema on fixed noise and the AN layout
maps) and what its evaluators score (G_ema's variables).
"""

from typing import Any, Dict, Tuple

import jax
import ml_collections
import numpy as np
from absl import logging
from clu import metric_writers
from jax.sharding import Mesh

from an_flax.data import input_pipeline
from an_flax.runtime import loop, mesh as mesh_lib, pictures as pictures_lib, streams
from an_flax.runtime.config_checks import check
from an_flax.runtime.workdir import join
from an_flax.training import steps
from an_flax.training.config import validate_config
from an_flax.training.state import TrainState, create_train_state, make_optimizers

SAMPLE_ROWS = 10  # classes shown in a sample sheet
SAMPLE_COLUMNS = 8  # noise vectors per class, shared by all rows
LAYOUT_EXAMPLES = 6  # sheet rows shown in a layout picture


class GanTask:
  """The GAN task of a config; validating it (a ValueError names the first bad field)."""

  outputs = {"sample sheets": "samples", "layout pictures": "layouts"}

  def __init__(self, config: ml_collections.ConfigDict):
    self.config = config
    self.generator, self.discriminator = validate_config(config)
    self.g_tx, self.d_tx = make_optimizers(config)
    # A batch per micro-batch of every D update (G's updates draw only noise).
    self.batches_per_step = config.optim.d_steps * config.optim.accumulation_steps
    self.compute_dtype = config.model.dtype

  def check_inputs(self) -> None:
    """Data that can be read (or generated), with as many classes as the model has."""
    classes = input_pipeline.check_available(self.config)
    check(classes == self.config.model.num_classes, "model.num_classes",
          f"{self.config.model.num_classes} differs from the {classes} classes of dataset "
          f"{self.config.dataset.name!r}: labels past the model's class table would give NaN")

  def init_state(self, key: jax.Array) -> TrainState:
    return create_train_state(self.config, self.generator, self.discriminator, self.g_tx,
                              self.d_tx, key)

  def make_step(self, mesh: Mesh) -> Tuple[Any, Tuple[Any, ...]]:
    return steps.make_train_step(self.config, self.generator, self.discriminator, self.g_tx,
                                 self.d_tx, mesh), ()

  def parameters(self, state: TrainState) -> Dict[str, Any]:
    return {"Generator": state.g_params, "Discriminator": state.d_params}

  def pictures(self, workdir: str, mesh: Mesh, writer: metric_writers.MetricWriter
               ) -> "Pictures":
    return Pictures(self, workdir, mesh, writer)

  def evaluation_variables(self, state: TrainState) -> Any:
    """G_ema's variables ({'params', 'batch_stats', 'spectral'})."""
    return {"params": state.ema_params, **state.ema_state}


class Pictures:
  """Class-conditional sample sheets and AN layout maps of G_ema on fixed noise, every
  `sample_every_steps` / `layout_every_steps` steps and at the last step."""

  def __init__(self, task: GanTask, workdir: str, mesh: Mesh,
               writer: metric_writers.MetricWriter):
    config = task.config
    classes = pictures_lib.sample_classes(config.model.num_classes, SAMPLE_ROWS)
    noise = jax.random.normal(streams.picture_key(config.seed),
                              (SAMPLE_COLUMNS, config.model.z_dim))
    self._rows = len(classes)
    self._z, self._labels = jax.device_put(  # once: the sheets reuse them
        (np.tile(np.asarray(noise), (self._rows, 1)),
         np.repeat(np.asarray(classes, np.int32), SAMPLE_COLUMNS)),
        mesh_lib.replicated(mesh))
    self._sample_fn = steps.make_sample_fn(task.generator, task.discriminator, mesh)
    self._config, self._workdir, self._writer = config, workdir, writer
    self._warned_no_layouts = False

  def first(self, state: TrainState) -> None:
    del state  # the sheets start at the first period

  def __call__(self, state: TrainState, step: int, last: bool) -> None:
    samples = loop.every(step, self._config.sample_every_steps) or last
    layouts = loop.every(step, self._config.layout_every_steps) or last
    if not (samples or layouts):
      return
    images, g_layouts, d_layouts = mesh_lib.to_host(self._sample_fn(state, self._z, self._labels))
    if jax.process_index() > 0:
      return
    if samples:
      sheet = pictures_lib.sample_sheet(images, self._rows)
      pictures_lib.write_png(join(self._workdir, "samples", f"step_{step:06d}.png"), sheet)
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
    pictures_lib.write_png(join(self._workdir, "layouts", f"step_{step:06d}.png"), picture)
    self._writer.write_images(step, {"layouts": picture[None]})
    logging.info("Layout picture rows: image, then per module (%s) argmax + entity maps.",
                 ", ".join(sorted(layouts)))
