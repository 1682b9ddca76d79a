"""`train_and_evaluate`: the GAN task's run around its compiled step.

It validates the config and checks the workdir and the data before building anything,
locks the workdir, restores the newest readable checkpoint (or initialises), compiles
the step, then runs the shared loop (`an_flax.runtime.loop.train_loop`): steps, logs,
saves, and after each step draws pictures and runs the evaluators it is given, until
`num_train_steps` or SIGTERM.
"""

import functools
import os
from typing import Any, Dict, Protocol, Sequence, Tuple

import flax.linen as nn
import jax
import ml_collections
import numpy as np
from absl import logging
from clu import metric_writers, parameter_overview

from an_flax.data import input_pipeline
from an_flax.models import build_models
from an_flax.runtime import loop, mesh as mesh_lib, pictures as pictures_lib, workdir as workdir_lib
from an_flax.runtime.checkpoints import Checkpointer
from an_flax.runtime.config_checks import check
from an_flax.runtime.preemption import PreemptionGuard
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

  def __init__(self, config: ml_collections.ConfigDict, workdir: str, mesh: jax.sharding.Mesh,
               sample_fn, writer: metric_writers.MetricWriter):
    classes = pictures_lib.sample_classes(config.model.num_classes, SAMPLE_ROWS)
    noise = jax.random.normal(jax.random.PRNGKey(config.seed + 1),
                              (SAMPLE_COLUMNS, config.model.z_dim))
    self._rows = len(classes)
    self._z, self._labels = jax.device_put(  # once: the sheets reuse them
        (np.tile(np.asarray(noise), (self._rows, 1)),
         np.repeat(np.asarray(classes, np.int32), SAMPLE_COLUMNS)),
        mesh_lib.replicated(mesh))
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


def check_run_inputs(config: ml_collections.ConfigDict, workdir: str) -> None:
  """The cheap checks, before any model is built: data that can be read (or generated), as
  many classes in the data as the model has, and a writable workdir (created last, so a
  refused run leaves nothing behind)."""
  classes = input_pipeline.check_available(config)
  check(classes == config.model.num_classes, "model.num_classes",
        f"{config.model.num_classes} differs from the {classes} classes of dataset "
        f"{config.dataset.name!r}: labels past the model's class table would give NaN")
  workdir_lib.check_writable(workdir)


def restore_or_initialize(config: ml_collections.ConfigDict, mesh: jax.sharding.Mesh,
                          generator: nn.Module, discriminator: nn.Module,
                          checkpointer: Checkpointer) -> Tuple[TrainState, int]:
  """(state, step): the newest readable checkpoint's, or a fresh state from `config.seed`;
  replicated on `mesh`."""
  g_tx, d_tx = make_optimizers(config)
  replicated = mesh_lib.replicated(mesh)
  init = jax.jit(functools.partial(create_train_state, config, generator, discriminator,
                                   g_tx, d_tx), out_shardings=replicated)
  rng = jax.random.PRNGKey(config.seed)
  abstract = jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=replicated),
                          jax.eval_shape(init, rng))
  restored = checkpointer.restore_latest(abstract, config)
  return restored if restored is not None else (init(rng), 0)


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


def _abstract_batch(config: ml_collections.ConfigDict, mesh: jax.sharding.Mesh
                    ) -> Dict[str, jax.ShapeDtypeStruct]:
  """The global batch a step takes: d_steps batches of uint8 images and int32 labels."""
  shape = (config.optim.d_steps, config.batch_size)
  size = config.model.resolution
  sharding = mesh_lib.batch_sharding(mesh, 1)
  return {"image": jax.ShapeDtypeStruct(shape + (size, size, 3), np.uint8, sharding=sharding),
          "label": jax.ShapeDtypeStruct(shape, np.int32, sharding=sharding)}


def _log_outputs(workdir: str) -> None:
  where = lambda name: os.path.join(os.path.abspath(workdir), name)
  logging.info("Outputs: checkpoints in %s, sample sheets in %s, layout pictures in %s, "
               "TensorBoard events in %s (tensorboard --logdir %s).", where("checkpoints"),
               where("samples"), where("layouts"), os.path.abspath(workdir),
               os.path.abspath(workdir))


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str,
                       evaluators: Sequence[Evaluator] = ()) -> TrainState:
  """Trains until `config.num_train_steps` (resuming from `workdir`); returns the state.

  Raises `an_flax.runtime.preemption.Preempted` after saving when SIGTERM arrives.
  """
  validate_config(config)
  check_run_inputs(config, workdir)
  with workdir_lib.WorkdirLock(workdir):
    mesh = mesh_lib.create_mesh()
    checkpointer = Checkpointer(workdir, config.checkpoint.every_steps, config.checkpoint.keep)
    writer = metric_writers.create_default_writer(workdir, just_logging=jax.process_index() > 0)
    with loop.preemptible(checkpointer, writer) as guard:
      state = _run(config, workdir, evaluators, mesh, checkpointer, writer, guard)
  logging.info("Finished at step %d.", config.num_train_steps)
  return state


def _run(config: ml_collections.ConfigDict, workdir: str, evaluators: Sequence[Evaluator],
         mesh: jax.sharding.Mesh, checkpointer: Checkpointer,
         writer: metric_writers.MetricWriter, guard: PreemptionGuard) -> TrainState:
  _log_outputs(workdir)
  logging.info("Config:\n%s", config)
  d_steps = config.optim.d_steps
  input_pipeline.prepare(config)  # may generate the data: before the model
  generator, discriminator = build_models(config.model)
  g_tx, d_tx = make_optimizers(config)
  newest = checkpointer.latest_step()
  state, start_step = guard.interruptible(
      lambda: restore_or_initialize(config, mesh, generator, discriminator, checkpointer),
      newest)
  for name, params in (("Generator", state.g_params), ("Discriminator", state.d_params)):
    parameter_overview.log_parameter_overview(mesh_lib.to_host(params), msg=f"{name} parameters")

  train_step, flops = loop.compile_step(
      steps.make_train_step(config, generator, discriminator, g_tx, d_tx, mesh),
      (state, _abstract_batch(config, mesh)), guard, checkpointer.latest_step())
  pictures = _Pictures(config, workdir, mesh, steps.make_sample_fn(generator, discriminator,
                                                                   mesh), writer)
  host_batches = input_pipeline.create_train_iterator(config, start_step * d_steps)
  batches = loop.DevicePrefetcher(loop.stack_batches(host_batches, d_steps),
                                  lambda batch: mesh_lib.global_batch(batch, mesh, batch_dim=1))

  def after_step(state: TrainState, step: int, last: bool) -> None:
    samples = loop.every(step, config.sample_every_steps) or last
    layouts = loop.every(step, config.layout_every_steps) or last
    if samples or layouts:
      pictures(state, step, samples, layouts)
    due = due_evaluators(evaluators, step, last)
    if due:
      _evaluate(due, state, step, writer)

  # Logged once the step is compiled: from here on a SIGTERM saves a checkpoint and stops.
  logging.info("Training from step %d to %d.", start_step, config.num_train_steps)
  try:
    return loop.train_loop(
        config, state=state, start_step=start_step, train_step=train_step, batches=batches,
        cost=loop.StepCost(d_steps * config.batch_size, flops, config.model.dtype),
        checkpointer=checkpointer, guard=guard, writer=writer, workdir=workdir,
        after_step=after_step)
  finally:
    batches.close()
