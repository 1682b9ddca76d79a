"""Orbax checkpoints of the train state, each with the config that wrote it.

Checkpoints live in `<workdir>/checkpoints/<step>/{state,config}`. Orbax
writes a step into a temporary directory and renames it when complete, so a
process killed mid-save leaves the previous checkpoint as the newest
restorable one. Saves are asynchronous; every process must call `save`.
"""

import json
import os
from typing import Any, Optional

import flax
import jax
import ml_collections
import orbax.checkpoint as ocp
from absl import logging

# Model fields that do not change any array shape: a checkpoint written with
# another value restores fine (e.g. a float32 run resumed in bfloat16).
_SHAPE_FREE_MODEL_FIELDS = ("dtype", "per_device_bn")


def _config_json(config: ml_collections.ConfigDict) -> dict:
  return json.loads(config.to_json_best_effort())


def _model_fields(config: dict) -> dict:
  return {k: v for k, v in config.get("model", {}).items() if k not in _SHAPE_FREE_MODEL_FIELDS}


class Checkpointer:
  """Saves every `every_steps`, keeps the newest `keep`, restores the newest."""

  def __init__(self, workdir: str, every_steps: int, keep: int):
    self.directory = os.path.join(os.path.abspath(workdir), "checkpoints")
    self.every_steps = every_steps
    self._manager = ocp.CheckpointManager(
        self.directory,
        options=ocp.CheckpointManagerOptions(max_to_keep=keep, create=True),
        item_handlers={"state": ocp.StandardCheckpointHandler(),
                       "config": ocp.JsonCheckpointHandler()})

  def latest_step(self) -> Optional[int]:
    return self._manager.latest_step()

  def due(self, step: int) -> bool:
    return step % self.every_steps == 0

  def save(self, step: int, state: Any, config: ml_collections.ConfigDict) -> None:
    """Starts an asynchronous save of `state` (and `config`) as `step`."""
    self._manager.save(step, args=ocp.args.Composite(
        state=ocp.args.StandardSave(flax.serialization.to_state_dict(state)),
        config=ocp.args.JsonSave(_config_json(config))), force=True)

  def restore(self, step: int, abstract_state: Any, config: ml_collections.ConfigDict) -> Any:
    """The state saved at `step`, laid out like `abstract_state` (shapes + shardings).

    Raises ValueError naming the config that wrote the checkpoint when its
    arrays do not fit this run's (other model changes only warn).
    """
    where = os.path.join(self.directory, str(step))
    saved = self._manager.restore(step, args=ocp.args.Composite(
        config=ocp.args.JsonRestore()))["config"]
    saved_model, run_model = _model_fields(saved), _model_fields(_config_json(config))
    mismatched = sorted(k for k in saved_model.keys() | run_model.keys()
                        if saved_model.get(k) != run_model.get(k))
    target = flax.serialization.to_state_dict(abstract_state)
    mismatched_arrays = _mismatched_arrays(self._manager.item_metadata(step)["state"], target)
    fields = ", ".join(f"model.{k}: checkpoint {saved_model.get(k)!r} vs this run "
                       f"{run_model.get(k)!r}" for k in mismatched)
    if mismatched_arrays:
      raise ValueError(
          f"The checkpoint {where} was written by an incompatible config "
          f"({fields or 'same model fields'}; arrays: {mismatched_arrays}). Its config is "
          f"stored in {os.path.join(where, 'config')}. Use a fresh --workdir, or the config "
          "that wrote it.")
    if mismatched:
      logging.warning("Resuming %s with changed model fields (%s).", where, fields)
    restored = self._manager.restore(step, args=ocp.args.Composite(
        state=ocp.args.StandardRestore(target)))["state"]
    logging.info("Restored step %d from %s.", step, where)
    return flax.serialization.from_state_dict(abstract_state, restored)

  def wait(self) -> None:
    """Blocks until pending saves are committed."""
    self._manager.wait_until_finished()

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
