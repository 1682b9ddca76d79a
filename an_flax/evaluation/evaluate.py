"""Scores of a checkpoint's generator by the evaluators of `config.evals` (eval.py's
`--mode=metrics`), on every device of every process of the job: samples and features are
sharded over all of them, every process holds the same statistics, process 0 writes.

The record written to `<workdir>/eval_<step>.json` holds, besides each evaluator's report
(its scores and every protocol choice they depend on: `an_flax.evaluation.evaluators`),
how the generator was obtained: the checkpoint and step, G_ema or G, standing statistics,
truncation, seed, batch size and devices. `follow` scores each checkpoint as it lands,
beside a training run (`eval.py --follow`).
"""

import json
import time
from typing import Any, Dict, List, Mapping, Optional, Sequence

import jax
import ml_collections
import numpy as np
from absl import logging
from etils import epath
from jax.experimental import multihost_utils

from an_flax.evaluation import evaluators as evaluators_lib, reference
from an_flax.evaluation.generate import sampling_batch_size
from an_flax.evaluation.restore import RestoredGenerator, restore_generator
from an_flax.models import build_models
from an_flax.runtime import mesh as mesh_lib, workdir as workdir_lib


class CheckpointScorer:
  """The evaluators `names` of `config.evals` (None: all), built once: each call scores one
  checkpoint. Building loads their weights and statistics, so a missing file fails before
  anything is restored; `reference_command` is the command line its error suggests."""

  def __init__(self, config: ml_collections.ConfigDict, names: Optional[Sequence[str]] = None,
               reference_command: str = reference.DEFAULT_COMMAND):
    self._config = config
    self._mesh = mesh_lib.create_mesh()
    self._models = build_models(config.model)
    self._names = sorted(names if names is not None else config.evals)
    self._evaluators = evaluators_lib.build(config, self._mesh, self._models[0],
                                            training=False, names=self._names,
                                            reference_command=reference_command)

  def __call__(self, workdir: str, step: Optional[int] = None) -> Dict[str, Any]:
    """Scores checkpoint `step` (None: the newest), writes `<workdir>/eval_<step>.json` and
    returns its record."""
    config, start = self._config, time.monotonic()
    restored = restore_generator(config, workdir, self._mesh, step, self._models)
    reports = {name: evaluator.report(restored.variables)
               for name, evaluator in zip(self._names, self._evaluators)}
    record = {**generator_record(config, restored), "evals": reports,
              "seconds": round(time.monotonic() - start, 1)}
    if jax.process_index() == 0:  # every process scored the same samples: one writes
      path = record_path(workdir, restored.step)
      path.write_text(json.dumps(record, indent=2))
      print(format_table(record, {name: type(e)
                                  for name, e in zip(self._names, self._evaluators)}))
      logging.info("Wrote %s.", path)
    return record


def record_path(workdir: str, step: int) -> epath.Path:
  return epath.Path(workdir) / f"eval_{step}.json"


def evaluate_checkpoint(config: ml_collections.ConfigDict, workdir: str,
                        step: Optional[int] = None, names: Optional[Sequence[str]] = None,
                        reference_command: str = reference.DEFAULT_COMMAND) -> Dict[str, Any]:
  """`CheckpointScorer(config, names, reference_command)(workdir, step)`."""
  return CheckpointScorer(config, names, reference_command)(workdir, step)


def _unscored_step(workdir: str) -> int:
  """The oldest checkpoint of `workdir` without an `eval_<step>.json`; -1 when none."""
  folder = epath.Path(workdir) / "checkpoints"
  listed = folder.iterdir() if folder.exists() else []
  steps = sorted(int(p.name) for p in listed if p.name.isdigit())
  return next((step for step in steps if not record_path(workdir, step).exists()), -1)


def follow(config: ml_collections.ConfigDict, workdir: str,
           names: Optional[Sequence[str]] = None,
           reference_command: str = reference.DEFAULT_COMMAND,
           poll_seconds: float = 30.0) -> List[int]:
  """Scores every checkpoint of `workdir` without a record, oldest first, as they land
  beside a training run, until the run's last step (`num_train_steps`) is scored, or the run
  is over (its workdir lock is gone) with nothing left to score. Returns the steps scored.

  Every process takes part in each scoring; process 0 decides which step is next.
  """
  score, scored = CheckpointScorer(config, names, reference_command), []
  while True:
    step = -1
    if jax.process_index() == 0:
      step = _unscored_step(workdir)
      if step < 0 and (not (epath.Path(workdir) / workdir_lib.LOCK_NAME).exists()
                       or record_path(workdir, config.num_train_steps).exists()):
        step = -2  # nothing left, and none to come
    if jax.process_count() > 1:
      step = int(multihost_utils.broadcast_one_to_all(np.int64(step)))
    if step == -2:
      logging.info("Scored %s; the run is over.", scored or "nothing new")
      return scored
    if step >= 0:
      try:
        score(workdir, step)
        scored.append(step)
        continue
      except FileNotFoundError as gone:  # deleted by training between listing and reading
        logging.warning("Checkpoint %d went away before it was read (%s).", step, gone)
    time.sleep(poll_seconds)


def generator_record(config: ml_collections.ConfigDict, restored: RestoredGenerator
                     ) -> Dict[str, Any]:
  """How the scored samples were drawn: checkpoint, step, G_ema or G, standing statistics,
  truncation, labels, seed, batch and devices."""
  return {
      "step": restored.step,
      "checkpoint": restored.checkpoint,
      "generator": "G_ema" if restored.use_ema else "G",
      "standing_stats": ({"batches": restored.standing_stats_batches,
                          "batch_size": config.batch_size,
                          "per_device_bn": config.model.per_device_bn}
                         if restored.standing_stats_batches else None),
      "truncation": config.sampling.truncation,
      "labels": f"uniform random over {config.model.num_classes} classes",
      "seed": config.seed,
      "batch_size": sampling_batch_size(config),
      "devices": jax.device_count(),
  }


def format_table(record: Mapping[str, Any], kinds: Mapping[str, Any]) -> str:
  """How the generator was obtained, then each evaluator's headline numbers, aligned."""
  rows = [("step", record["step"]), ("generator", record["generator"]),
          ("standing stats", record["standing_stats"] or "off"),
          ("truncation", record["truncation"] or "off")]
  for name, report in record["evals"].items():
    rows.append((f"[{name}]", report["type"]))
    rows += [(f"  {label}", value) for label, value in kinds[name].rows(report)]
  width = max(len(name) for name, _ in rows)
  return "\n".join(f"{name:<{width}}  {value}" for name, value in rows)

