"""Orbax checkpoints of a state pytree, each with the config that wrote it, that never lose a run.

Checkpoints live in `<workdir>/checkpoints/<step>/{state,config}`. Orbax writes a step
into a temporary directory and renames it when complete, so a process killed mid-save
leaves the previous checkpoint as the newest restorable one; a writer removes such
leftovers when it opens the directory. Saves are asynchronous (every process must call
`save`); a failed save is reported by `check_saves` (the loop calls it at every log) and
its partial directory removed, so a full disk stops a run within a log interval instead
of at the next save.

Restoring the newest checkpoint falls back to older ones when it cannot be read: the
damaged step is moved aside to `<step>.damaged` (never deleted) by a writer, or only
skipped by a read-only user (evaluation). A checkpoint whose arrays do not fit the run's
config is not damaged: that is an error naming the config that wrote it.

Besides the newest `keep`, a writer keeps the `KeepBest.count` best checkpoints by a metric
the run's evaluators report (`record_scores`; kept in `<checkpoints>/scores.json`), and
never deletes a checkpoint a reader holds a lease on (`reading`: eval.py beside training).
Both are Orbax preservation policies beside its `LatestN`.
"""

import contextlib
import dataclasses
import errno
import json
import os
import shutil
import socket
import time
from typing import Any, Callable, Dict, Iterator, List, Optional, Set, Tuple

import flax
import jax
import ml_collections
import orbax.checkpoint as ocp
from absl import logging
from etils import epath
from jax.experimental import multihost_utils
from jax.sharding import Mesh
from orbax.checkpoint import checkpoint_managers

from an_flax.runtime import mesh as mesh_lib, workdir as workdir_lib

# Model fields that do not change any array shape: a checkpoint written with
# another value restores fine (e.g. a float32 run resumed in bfloat16).
_SHAPE_FREE_MODEL_FIELDS = ("dtype", "per_device_bn")
DAMAGED_SUFFIX = ".damaged"
_TMP_MARKER = ".orbax-checkpoint-tmp"
SCORES_NAME = "scores.json"  # {step: {metric: value}} of the evaluated checkpoints
READING_DIR = "reading"  # a reader's lease: `<step>.<host>.<pid>`
LEASE_SECONDS = 6 * 3600  # a lease older than this is stale: its reader died


@dataclasses.dataclass(frozen=True)
class KeepBest:
  """Keep the `count` best checkpoints by `metric` ('min': lower is better, or 'max')."""

  count: int
  metric: str
  mode: str = "min"


class CheckpointError(Exception):
  """A checkpoint problem with a message that says what to do."""


class IncompatibleCheckpointError(CheckpointError, ValueError):
  """The checkpoint's arrays do not fit this run's config."""


class DamagedCheckpointError(CheckpointError):
  """A checkpoint that cannot be read."""


class CheckpointSaveError(CheckpointError):
  """A save failed (disk full, permissions, ...); older checkpoints are intact."""


def _config_json(config: ml_collections.ConfigDict) -> dict:
  return json.loads(config.to_json_best_effort())


def _model_fields(config: dict) -> dict:
  return {k: v for k, v in config.get("model", {}).items() if k not in _SHAPE_FREE_MODEL_FIELDS}


def _first_line(error: BaseException) -> str:
  """The root cause's first line, without TensorStore's spec dump: what a person can act on."""
  while error.__cause__ is not None or error.__context__ is not None:
    error = error.__cause__ or error.__context__
  text = (str(error).strip() or type(error).__name__).splitlines()[0]
  return text.split(" [tensorstore_spec=")[0][:300]


def _disk_full(error: BaseException) -> bool:
  while error is not None:
    text = str(error)
    if (getattr(error, "errno", None) == errno.ENOSPC or "No space left" in text
        or "os_error_code='28'" in text):
      return True
    error = error.__cause__ or error.__context__
  return False


class _Protected:
  """An Orbax preservation policy: the checkpoints `steps()` names (the best, the read)."""

  def __init__(self, steps: Callable[[], Set[int]]):
    self._steps = steps

  def should_preserve(self, checkpoints: Any, *, context: Any) -> List[bool]:
    del context
    protected = self._steps()
    return [info.step in protected for info in checkpoints]


class Checkpointer:
  """Saves every `every_steps`, keeps the newest `keep` (and the `keep_best` best, and those
  being read), restores the newest readable one.

  `read_only=True` (evaluation, inpainting a picture) creates nothing: a workdir without
  checkpoints is an error, and damaged steps are skipped, not moved.
  """

  def __init__(self, workdir: str, every_steps: int, keep: int, read_only: bool = False,
               keep_best: Optional[KeepBest] = None):
    self.directory = workdir_lib.join(workdir_lib.absolute(workdir), "checkpoints")
    self.every_steps = every_steps
    self.read_only = read_only
    if read_only and not epath.Path(self.directory).is_dir():
      raise FileNotFoundError(f"No checkpoints in {self.directory}.")
    self._pending_step: Optional[int] = None
    self._keep_best = keep_best
    self._manager = self._open(keep)

  def _open(self, keep: int) -> ocp.CheckpointManager:
    preserve = checkpoint_managers.AnyPreservationPolicy(
        [checkpoint_managers.LatestN(n=keep), _Protected(self.protected_steps)])
    options = (ocp.CheckpointManagerOptions(read_only=True) if self.read_only else
               ocp.CheckpointManagerOptions(preservation_policy=preserve, create=True,
                                            cleanup_tmp_directories=True))
    return ocp.CheckpointManager(
        self.directory, options=options,
        item_handlers={"state": ocp.StandardCheckpointHandler(),
                       "config": ocp.JsonCheckpointHandler()})

  def _step_path(self, step: int) -> str:
    return workdir_lib.join(self.directory, str(step))

  def latest_step(self) -> Optional[int]:
    return self._manager.latest_step()

  def all_steps(self) -> List[int]:
    return sorted(self._manager.all_steps())

  def due(self, step: int) -> bool:
    return step % self.every_steps == 0

  def save(self, step: int, state: Any, config: ml_collections.ConfigDict) -> None:
    """Starts an asynchronous save of `state` (and `config`) as `step`.

    Raises CheckpointSaveError if the previous save failed.
    """
    self.wait()
    self._pending_step = step
    try:
      self._manager.save(step, args=ocp.args.Composite(
          state=ocp.args.StandardSave(flax.serialization.to_state_dict(state)),
          config=ocp.args.JsonSave(_config_json(config))), force=True)
    except Exception as error:  # pylint: disable=broad-except
      self._failed(error)

  def check_saves(self) -> None:
    """Raises CheckpointSaveError if the last save has finished and failed; never blocks."""
    if self._pending_step is not None and not self._manager.is_saving_in_progress():
      self.wait()

  def wait(self) -> None:
    """Blocks until the pending save is committed; raises CheckpointSaveError if it failed."""
    try:
      self._manager.wait_until_finished()
    except Exception as error:  # pylint: disable=broad-except
      self._failed(error)
    self._pending_step = None

  def _failed(self, error: Exception) -> None:
    """Removes the partial step and raises one message: what, where, free space."""
    step, self._pending_step = self._pending_step, None
    removed, directory = [], epath.Path(self.directory)
    if jax.process_index() == 0 and directory.is_dir():
      for partial in directory.iterdir():
        if partial.name.split(".")[0] == str(step) and _TMP_MARKER in partial.name:
          with contextlib.suppress(OSError):
            partial.rmtree()
          removed.append(partial.name)
    reason, disk = _first_line(error), ""
    if _disk_full(error):
      free = shutil.disk_usage(self.directory).free  # a full disk is a local one
      reason = "No space left on device"
      disk = (f" {free / 2**20:.1f} MiB are free on the filesystem of {self.directory}: "
              "free space, or point --workdir elsewhere and copy the checkpoints over.")
    older = [s for s in self._manager.all_steps() if s != step]
    raise CheckpointSaveError(
        f"Saving the checkpoint of step {step} to {self._step_path(step)} "
        f"failed: {reason}.{disk} "
        + (f"Its partial directory {', '.join(removed)} was removed. " if removed else "")
        + (f"The newest complete checkpoint is step {max(older)}; the same command resumes "
           "from it." if older else "No earlier checkpoint exists.")) from error

  def restore(self, step: int, abstract_state: Any, config: ml_collections.ConfigDict) -> Any:
    """The state saved at `step`, laid out like `abstract_state` (shapes + shardings).

    Raises IncompatibleCheckpointError naming the config that wrote the checkpoint when
    its arrays do not fit this run's (other model changes only warn), and
    DamagedCheckpointError when it cannot be read. A reader holds a lease on the step
    meanwhile (`reading`).
    """
    with (self.reading(step) if self.read_only else contextlib.nullcontext()):
      return self._restore(step, abstract_state, config)

  def _restore(self, step: int, abstract_state: Any, config: ml_collections.ConfigDict) -> Any:
    where = self._step_path(step)
    try:
      saved = self._manager.restore(step, args=ocp.args.Composite(
          config=ocp.args.JsonRestore()))["config"]
      metadata = self._manager.item_metadata(step)["state"]
    except Exception as error:  # pylint: disable=broad-except
      raise DamagedCheckpointError(f"{where}: {_first_line(error)}") from error
    if metadata is None:
      raise DamagedCheckpointError(f"{where}: its array metadata (state/_METADATA) is missing")
    saved_model, run_model = _model_fields(saved), _model_fields(_config_json(config))
    # A field the checkpoint's config lacks is one a later schema added (its default is
    # what wrote the checkpoint); the arrays below still catch a real difference.
    mismatched = sorted(k for k, v in saved_model.items() if v != run_model.get(k))
    target = flax.serialization.to_state_dict(abstract_state)
    mismatched_arrays = _mismatched_arrays(metadata, target)
    fields = ", ".join(f"model.{k}: checkpoint {saved_model[k]!r} vs this run "
                       f"{run_model.get(k)!r}" for k in mismatched)
    if mismatched_arrays:
      raise IncompatibleCheckpointError(
          f"The checkpoint {where} was written by an incompatible config "
          f"({fields or 'same model fields'}; arrays: {mismatched_arrays}). Its config is "
          f"stored in {workdir_lib.join(where, 'config')}. Use a fresh --workdir, or the config "
          "that wrote it.")
    if mismatched:
      logging.warning("Resuming %s with changed model fields (%s).", where, fields)
    try:
      restored = self._manager.restore(step, args=ocp.args.Composite(
          state=ocp.args.StandardRestore(target)))["state"]
    except Exception as error:  # pylint: disable=broad-except
      raise DamagedCheckpointError(f"{where}: {_first_line(error)}") from error
    logging.info("Restored step %d from %s.", step, where)
    return flax.serialization.from_state_dict(abstract_state, restored)

  def restore_latest(self, abstract_state: Any, config: ml_collections.ConfigDict
                     ) -> Optional[Tuple[Any, int]]:
    """(state, step) of the newest checkpoint that restores; None when there is none.

    A damaged step is logged, moved aside (writers) or skipped (read-only), and the next
    newest is tried; only when every one fails is it an error, listing what was tried.
    """
    tried = []
    for step in reversed(self.all_steps()):
      try:
        return self.restore(step, abstract_state, config), step
      except DamagedCheckpointError as error:
        tried.append(f"step {step}: {error}")
        self._set_aside(step, error)
    if tried:
      raise DamagedCheckpointError(
          f"No checkpoint in {self.directory} could be read. Tried:\n  " + "\n  ".join(tried)
          + "\nDamaged steps were moved aside as <step>" + DAMAGED_SUFFIX
          + " (nothing was deleted); start a fresh run with another --workdir, or restore "
          "the directory from a backup.")
    return None

  def _set_aside(self, step: int, error: DamagedCheckpointError) -> None:
    where = self._step_path(step)
    if self.read_only:
      logging.warning("Checkpoint step %d is damaged (%s); trying an older one.", step, error)
      return
    aside = where + DAMAGED_SUFFIX
    if jax.process_index() == 0:
      suffix = 1
      while epath.Path(aside).exists():
        aside, suffix = f"{where}{DAMAGED_SUFFIX}{suffix}", suffix + 1
      epath.Path(where).rename(aside)
    if jax.process_count() > 1:
      multihost_utils.sync_global_devices(f"checkpoint {step} set aside")
    logging.warning("Checkpoint step %d is damaged (%s): moved aside to %s; trying an older "
                    "one.", step, error, aside)
    self._manager.reload()

  def record_scores(self, step: int, scores: Dict[str, float]) -> None:
    """Remembers the evaluators' `scores` of checkpoint `step`, for `keep_best` (process 0
    writes; a step without a checkpoint is not recorded)."""
    if (self._keep_best is None or jax.process_index() > 0
        or self._keep_best.metric not in scores
        or step not in {*self.all_steps(), self._pending_step}):
      return
    recorded = self._scores()
    recorded[str(step)] = {name: float(value) for name, value in scores.items()}
    (epath.Path(self.directory) / SCORES_NAME).write_text(json.dumps(recorded, indent=1))

  def _scores(self) -> Dict[str, Dict[str, float]]:
    path = epath.Path(self.directory) / SCORES_NAME
    try:
      return json.loads(path.read_text()) if path.exists() else {}
    except ValueError:
      logging.warning("%s is not JSON; the best checkpoints are chosen afresh.", path)
      return {}

  def best_steps(self) -> List[int]:
    """The `keep_best.count` best recorded steps, best first."""
    if self._keep_best is None or self._keep_best.count <= 0:
      return []
    metric = self._keep_best.metric
    scored = [(values[metric], int(step)) for step, values in self._scores().items()
              if metric in values]
    ranked = sorted(scored, reverse=self._keep_best.mode == "max")
    return [step for _, step in ranked[:self._keep_best.count]]

  def read_steps(self) -> Set[int]:
    """The steps a live reader holds a lease on (`reading`)."""
    folder = epath.Path(self.directory) / READING_DIR
    if not folder.exists():
      return set()
    now, steps = time.time(), set()
    for lease in folder.iterdir():
      try:
        if now - float(lease.read_text()) < LEASE_SECONDS:
          steps.add(int(lease.name.split(".")[0]))
      except (OSError, ValueError):
        continue  # removed meanwhile, or being written
    return steps

  def protected_steps(self) -> Set[int]:
    return set(self.best_steps()) | self.read_steps()

  @contextlib.contextmanager
  def reading(self, step: int) -> Iterator[None]:
    """Holds a lease on checkpoint `step` while it is read, so that a training run writing
    into the same directory does not delete it meanwhile. Best effort: a directory this
    process cannot write in (someone else's run) is read without one."""
    lease = (epath.Path(self.directory) / READING_DIR
             / f"{step}.{socket.gethostname()}.{os.getpid()}")
    try:
      lease.parent.mkdir(parents=True, exist_ok=True)
      lease.write_text(str(time.time()))
    except OSError as error:
      logging.info("Reading step %d without a lease (%s).", step, error)
      lease = None
    try:
      yield
    finally:
      if lease is not None:
        lease.unlink(missing_ok=True)
        # Leave the folder to other readers' leases (epath: ValueError when not empty).
        with contextlib.suppress(OSError, ValueError):
          lease.parent.rmdir()

  def close(self) -> None:
    self._manager.close()


def _mismatched_arrays(metadata: Any, target: Any) -> str:
  """'' when both trees have the same paths and shapes, else the first differences."""
  shapes = lambda tree: {jax.tree_util.keystr(path): tuple(leaf.shape)
                         for path, leaf in jax.tree_util.tree_leaves_with_path(tree)}
  saved, wanted = shapes(metadata), shapes(target)
  problems = [f"{path}: checkpoint {saved.get(path)} vs this run {wanted.get(path)}"
              for path in sorted(saved.keys() | wanted.keys())
              if saved.get(path) != wanted.get(path)]
  return "; ".join(problems[:5]) + (f" (+{len(problems) - 5} more)" if len(problems) > 5 else "")


def abstract_state(init: Callable[[jax.Array], Any], mesh: Mesh) -> Any:
  """Shapes, dtypes and replicated shardings of `init(key)`'s state, computed without
  running it: what a checkpoint is restored into (training, evaluation, conversion)."""
  replicated = mesh_lib.replicated(mesh)
  return jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=replicated),
                      jax.eval_shape(init, jax.random.PRNGKey(0)))


def restore_for_reading(workdir: str, config: ml_collections.ConfigDict, abstract: Any,
                        step: Optional[int], how_to_train: str) -> Tuple[Any, int, str]:
  """(state, step, checkpoint path) of checkpoint `step` (None: the newest readable one).

  Read-only: nothing is created, and a damaged checkpoint is skipped, not moved. A workdir
  without checkpoints, or without `step`, is a FileNotFoundError ending in `how_to_train`.
  """
  try:
    checkpointer = Checkpointer(workdir, config.checkpoint.every_steps, config.checkpoint.keep,
                                read_only=True)
  except FileNotFoundError as error:
    raise FileNotFoundError(f"{error} {how_to_train}") from error
  try:
    available = checkpointer.all_steps()
    if not available or (step is not None and step not in available):
      raise FileNotFoundError(f"No checkpoint of step {step if step is not None else '(any)'} "
                              f"in {checkpointer.directory}; steps there: {available}. "
                              f"{how_to_train}")
    if step is None:
      state, step = checkpointer.restore_latest(abstract, config)
    else:
      state = checkpointer.restore(step, abstract, config)
  finally:
    checkpointer.close()
  return state, step, workdir_lib.join(checkpointer.directory, str(step))
