"""`run_training(task, workdir, evaluators)`: the one run every task stands on.

A task (the class-conditional GAN, inpainting) is a small object that says what is its
own: its state and how it starts, its compiled step, how many batches a step takes, its
parameters, its pictures and what its evaluators score. Everything else happens here,
the same way for every task: the cheap checks before anything is built (the task's
inputs, a writable workdir, the evaluators' files), the workdir lock, a mesh over all
devices, Orbax checkpoints with automatic resume (falling back past damaged ones), the
SIGTERM guard, clu metric writers, the step compiled ahead of time, batches from the
shared input pipeline built on the devices ahead of their step, and the loop
(`an_flax.runtime.loop.train_loop`) with pictures and evaluators after each step.
"""

from typing import Any, Callable, Dict, Optional, Protocol, Sequence, Tuple

import jax
import ml_collections
import numpy as np
from absl import logging
from clu import metric_writers, parameter_overview
from jax.sharding import Mesh

from an_flax.data import input_pipeline
from an_flax.runtime import checkpoints, loop, mesh as mesh_lib, peers, streams, writers
from an_flax.runtime import workdir as workdir_lib
from an_flax.runtime.checkpoints import Checkpointer, KeepBest
from an_flax.runtime.evaluators import Evaluator, due
from an_flax.runtime.preemption import PreemptionGuard


class Pictures(Protocol):
  """What a task draws for people while it trains."""

  def first(self, state: Any) -> None:
    """Before the first step of a fresh run."""

  def __call__(self, state: Any, step: int, last: bool) -> None:
    """After `step` (the last one when `last`)."""


class Task(Protocol):
  """A training task: what is its own; `run_training` does the rest."""

  config: ml_collections.ConfigDict
  batches_per_step: int  # batches one step consumes: one per D / critic update, and G's
  compute_dtype: str  # for the device's peak FLOP/s in the MFU
  outputs: Dict[str, str]  # what it writes in the workdir besides checkpoints: {what: folder}

  def check_inputs(self) -> None:
    """Cheap checks of its data and files, before anything is built."""

  def init_state(self, key: jax.Array) -> Any:
    """The fresh state from the run's training key; jit-able."""

  def make_step(self, mesh: Mesh) -> Tuple[Any, Tuple[Any, ...]]:
    """(jitted step, extra arguments): `step(state, batch, *extra) -> (state, metrics)`,
    state replicated and donated, the batch split over the mesh on dimension 1."""

  def parameters(self, state: Any) -> Dict[str, Any]:
    """Named parameter trees, for the log."""

  def pictures(self, workdir: str, mesh: Mesh, writer: metric_writers.MetricWriter
               ) -> Pictures:
    ...

  def evaluation_variables(self, state: Any) -> Any:
    """What the evaluators score (the GAN task: G_ema's variables)."""


EvaluatorsFactory = Callable[[Mesh], Sequence[Evaluator]]


def abstract_batch(config: ml_collections.ConfigDict, batches_per_step: int, mesh: Mesh
                   ) -> Dict[str, jax.ShapeDtypeStruct]:
  """The global batch of a step: `batches_per_step` batches of uint8 images and labels."""
  shape = (batches_per_step, config.batch_size)
  size = config.dataset.image_size
  sharding = mesh_lib.batch_sharding(mesh, 1)
  return {"image": jax.ShapeDtypeStruct(shape + (size, size, 3), np.uint8, sharding=sharding),
          "label": jax.ShapeDtypeStruct(shape, np.int32, sharding=sharding)}


def restore_or_initialize(task: Task, mesh: Mesh, checkpointer: Checkpointer
                          ) -> Tuple[Any, int]:
  """(state, step): the newest readable checkpoint's, or the task's fresh state; replicated."""
  init = jax.jit(task.init_state, out_shardings=mesh_lib.replicated(mesh))
  restored = checkpointer.restore_latest(checkpoints.abstract_state(task.init_state, mesh),
                                         task.config)
  if restored is not None:
    return restored
  return init(streams.training_key(task.config.seed)), 0


def run_training(task: Task, workdir: str,
                 evaluators: EvaluatorsFactory = lambda mesh: ()) -> Any:
  """Trains `task` until `config.num_train_steps`, resuming from `workdir`; returns the state.

  `evaluators(mesh)` builds the evaluators (loading their files) before the workdir is
  locked, so a missing file stops the run before anything is written. Raises
  `an_flax.runtime.preemption.Preempted` after saving when SIGTERM arrives.
  """
  config = task.config
  task.check_inputs()
  workdir_lib.check_writable(workdir)
  mesh = mesh_lib.create_mesh()
  built = evaluators(mesh)
  with workdir_lib.WorkdirLock(workdir):
    checkpointer = Checkpointer(workdir, config.checkpoint.every_steps, config.checkpoint.keep,
                                keep_best=_keep_best(config))
    peers.watch_checkpoints(checkpointer.directory)
    writer = writers.create_writer(workdir, just_logging=jax.process_index() > 0)
    with loop.preemptible(checkpointer, writer) as guard:
      state = _run(task, workdir, mesh, built, checkpointer, writer, guard)
  logging.info("Finished at step %d.", config.num_train_steps)
  return state


def _log_outputs(task: Task, workdir: str, checkpointer: Checkpointer) -> None:
  root = workdir_lib.absolute(workdir)
  outputs = [f"checkpoints in {checkpointer.directory}"] + [
      f"{what} in {workdir_lib.join(root, folder)}" for what, folder in task.outputs.items()]
  logging.info("Outputs: %s, TensorBoard events in %s (tensorboard --logdir %s).",
               ", ".join(outputs), root, root)


def _keep_best(config: ml_collections.ConfigDict) -> Optional[KeepBest]:
  """`config.checkpoint`'s best checkpoints to keep (a task without the fields keeps none)."""
  fields = config.checkpoint
  if not fields.get("keep_best", 0):
    return None
  return KeepBest(fields.keep_best, fields.best_metric, fields.best_mode)


def _evaluate(evaluators: Sequence[Evaluator], variables: Any, step: int,
              writer: metric_writers.MetricWriter) -> Dict[str, float]:
  """Runs `evaluators`, logs and writes their scores; returns them all."""
  everything = {}
  for evaluator in evaluators:
    scores = evaluator(variables)
    logging.info("Step %d: %s.", step,
                 ", ".join(f"{name} {value:.6g}" for name, value in sorted(scores.items())))
    writer.write_scalars(step, scores)
    everything.update(scores)
  return everything


def _run(task: Task, workdir: str, mesh: Mesh, evaluators: Sequence[Evaluator],
         checkpointer: Checkpointer, writer: metric_writers.MetricWriter,
         guard: PreemptionGuard) -> Any:
  config = task.config
  _log_outputs(task, workdir, checkpointer)
  logging.info("Config:\n%s", config)
  input_pipeline.prepare(config)  # may generate the data: before the model
  state, start_step = guard.interruptible(
      lambda: restore_or_initialize(task, mesh, checkpointer), checkpointer.latest_step())
  for name, params in task.parameters(state).items():
    parameter_overview.log_parameter_overview(mesh_lib.to_host(params), msg=f"{name} parameters")

  step_fn, extra = task.make_step(mesh)
  compiled, flops = loop.compile_step(
      step_fn, (state, abstract_batch(config, task.batches_per_step, mesh), *extra), guard,
      checkpointer.latest_step())
  train_step = lambda state, batch: compiled(state, batch, *extra)
  pictures = task.pictures(workdir, mesh, writer)
  if start_step == 0:
    pictures.first(state)
  host_batches = input_pipeline.create_train_iterator(config,
                                                      start_step * task.batches_per_step)
  batches = loop.DevicePrefetcher(
      loop.stack_batches(host_batches, task.batches_per_step),
      lambda batch: mesh_lib.global_batch(batch, mesh, batch_dim=1))

  def after_step(state: Any, step: int, last: bool) -> None:
    pictures(state, step, last)
    scoring = due(evaluators, step, last)
    if scoring:
      scores = _evaluate(scoring, task.evaluation_variables(state), step, writer)
      checkpointer.record_scores(step, scores)

  # Logged once the step is compiled: from here on a SIGTERM saves a checkpoint and stops.
  logging.info("Training from step %d to %d.", start_step, config.num_train_steps)
  try:
    return loop.train_loop(
        config, state=state, start_step=start_step, train_step=train_step, batches=batches,
        cost=loop.StepCost(task.batches_per_step * config.batch_size, flops,
                           task.compute_dtype),
        checkpointer=checkpointer, guard=guard, writer=writer, workdir=workdir,
        after_step=after_step)
  finally:
    batches.close()
