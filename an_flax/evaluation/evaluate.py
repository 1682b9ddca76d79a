"""Scores of a checkpoint's generator by the evaluators of `config.evals` (eval.py's
`--mode=metrics`).

The record written to `<workdir>/eval_<step>.json` holds, besides each evaluator's report
(its scores and every protocol choice they depend on: `an_flax.evaluation.evaluators`),
how the generator was obtained: the checkpoint and step, G_ema or G, standing statistics,
truncation, seed, batch size and devices.
"""

import json
import os
import time
from typing import Any, Dict, Mapping, Optional, Sequence

import jax
import ml_collections
from absl import logging

from an_flax.evaluation import evaluators as evaluators_lib, reference
from an_flax.evaluation.generate import sampling_batch_size
from an_flax.evaluation.restore import RestoredGenerator, restore_generator
from an_flax.models import build_models
from an_flax.runtime import mesh as mesh_lib


def evaluate_checkpoint(config: ml_collections.ConfigDict, workdir: str,
                        step: Optional[int] = None, names: Optional[Sequence[str]] = None,
                        reference_command: str = reference.DEFAULT_COMMAND) -> Dict[str, Any]:
  """Scores checkpoint `step` (None: the newest) with the evaluators `names` (None: all of
  `config.evals`), writes `<workdir>/eval_<step>.json` and returns its record.

  The evaluators load their weights and statistics before anything is restored, so a
  missing file fails first; `reference_command` is the command line its error suggests.
  """
  _check_single_process()
  start = time.monotonic()
  mesh = mesh_lib.create_mesh()
  models = build_models(config.model)
  built = evaluators_lib.build(config, mesh, models[0], training=False, names=names,
                               reference_command=reference_command)
  restored = restore_generator(config, workdir, mesh, step, models)
  names = sorted(names if names is not None else config.evals)
  reports = {name: evaluator.report(restored.variables)
             for name, evaluator in zip(names, built)}
  record = {**generator_record(config, restored), "evals": reports,
            "seconds": round(time.monotonic() - start, 1)}
  path = os.path.join(workdir, f"eval_{restored.step}.json")
  with open(path, "w") as f:
    json.dump(record, f, indent=2)
  print(format_table(record, {name: type(e) for name, e in zip(names, built)}))
  logging.info("Wrote %s.", path)
  return record


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


def _check_single_process() -> None:
  if jax.process_count() > 1:
    raise NotImplementedError(
        "FID runs in one process (the Inception extractor places host arrays); it uses "
        "all of that process's devices. Run eval.py without --distributed.")
