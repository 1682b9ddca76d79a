"""Scores of a checkpoint's generator in the features of `eval.feature_network`.

'inception': FID, Inception Score and intra-FID. Samples stream from the generator into
the Inception statistics batch by batch; none are kept (only the 1008 IS logits per
sample). 'shapes': the metrics of an_flax/evaluation/shapes.py, for symmetric_shapes.

The record written to `<workdir>/eval_<step>.json` holds every protocol choice a number
depends on: the network (for Inception: weights path, sha256, the .pth they were converted
from, input resize; for shapes: weights, sha256, the classifier's test accuracy), the
reference (path or dataset and split), sample counts, IS splits or nearest-neighbour k,
G_ema, standing statistics, truncation and step.
"""

import json
import os
import time
from typing import Any, Callable, Dict, Mapping, Optional, Tuple

import jax
import ml_collections
import numpy as np
from absl import logging
from jax.sharding import Mesh

from an_flax import metrics
from an_flax.evaluation import options as options_lib
from an_flax.evaluation import reference, shapes
from an_flax.evaluation.generate import Sampler, uniform_labels
from an_flax.evaluation.restore import restore_generator
from an_flax.metrics.preprocess import INCEPTION_SIZE
from an_flax.runtime import mesh as mesh_lib

# Offsets folded into the config's seed: one independent z stream per use (3: standing
# statistics, 4 and 6: the in-training evaluators).
FID_STREAM, INTRA_FID_STREAM, SHAPES_STREAM = 1, 2, 5


def fid_and_inception_score(sampler: Sampler, variables: Any, extract: metrics.FeatureFn,
                            labels: np.ndarray, key: jax.Array, reference_stats: metrics.Statistics,
                            is_splits: int, desc: Optional[str] = None) -> Dict[str, float]:
  """{'fid', 'is_mean', 'is_std'} of one sample per entry of `labels`."""
  images = (batch for batch, _ in sampler.stream(variables, labels, key, desc))
  stats, logits = metrics.compute_statistics(images, extract, keep_logits=True)
  is_mean, is_std = metrics.inception_score(logits, is_splits)
  return {"fid": metrics.frechet_distance(*stats, *reference_stats),
          "is_mean": is_mean, "is_std": is_std}


def streamed_intra_fid(sampler: Sampler, variables: Any, extract: metrics.FeatureFn,
                       num_classes: int, samples_per_class: int, key: jax.Array,
                       reference_stats: Mapping[int, metrics.Statistics],
                       desc: Optional[str] = None) -> Tuple[float, Dict[int, float]]:
  """`metrics.intra_fid` of `samples_per_class` samples of every class, in bounded memory.

  Classes are generated one after another, so only the classes of the current batch hold
  a DxD accumulator, and each class's FID is taken as soon as its samples are complete.
  """
  missing = [c for c in range(num_classes) if c not in reference_stats]
  if missing:
    raise KeyError(f"The per-class reference statistics lack classes {missing[:10]} "
                   f"({len(missing)} of {num_classes}).")
  labels = np.repeat(np.arange(num_classes, dtype=np.int32), samples_per_class)
  accumulators: Dict[int, metrics.StatsAccumulator] = {}
  per_class: Dict[int, float] = {}
  for images, batch_labels in sampler.stream(variables, labels, key, desc):
    pool3, _ = extract(images)
    for label in np.unique(batch_labels).tolist():
      accumulator = accumulators.setdefault(label, metrics.StatsAccumulator())
      accumulator.update(pool3[batch_labels == label])
      if accumulator.count == samples_per_class:
        per_class[label] = metrics.frechet_distance(
            *accumulators.pop(label).statistics(), *reference_stats[label])
  return float(np.mean(list(per_class.values()))), per_class


def evaluate_checkpoint(config: ml_collections.ConfigDict, workdir: str,
                        step: Optional[int] = None,
                        reference_command: str = reference.DEFAULT_COMMAND) -> Dict[str, Any]:
  """Scores a checkpoint with `eval.feature_network`, writes `<workdir>/eval_<step>.json`
  and returns its record.

  Missing weights or reference statistics fail before anything is restored or sampled;
  `reference_command` is the command line the error suggests.
  """
  _check_single_process()
  start = time.monotonic()
  options_lib.check_eval_config(config)
  options, batch_size = config.eval, options_lib.batch_size(config)
  mesh = mesh_lib.create_mesh()
  if options.feature_network == "shapes":
    score = _shapes_scorer(config, mesh)
  else:
    score = _inception_scorer(config, mesh, reference_command)
  restored = restore_generator(config, workdir, mesh, step)
  sampler = Sampler(restored.generator, mesh, batch_size, config.model.z_dim,
                    options.truncation)
  record = {
      "step": restored.step,
      "checkpoint": restored.checkpoint,
      "feature_network": options.feature_network,
      "generator": "G_ema" if restored.use_ema else "G",
      "standing_stats": ({"batches": restored.standing_stats_batches,
                          "batch_size": config.batch_size,
                          "per_device_bn": config.model.per_device_bn}
                         if restored.standing_stats_batches else None),
      "truncation": options.truncation,
      "labels": f"uniform random over {config.model.num_classes} classes",
      **score(sampler, restored.variables),
      "seed": config.seed,
      "batch_size": batch_size,
      "devices": jax.device_count(),
      "seconds": round(time.monotonic() - start, 1),
  }
  path = os.path.join(workdir, f"eval_{restored.step}.json")
  with open(path, "w") as f:
    json.dump(record, f, indent=2)
  print(format_table(record))
  logging.info("Wrote %s.", path)
  return record


Scorer = Callable[[Sampler, Any], Dict[str, Any]]  # -> the network's part of the record


def _inception_scorer(config: ml_collections.ConfigDict, mesh: Mesh,
                      reference_command: str) -> Scorer:
  """FID, IS and (with `eval.reference_class_stats`) intra-FID; loads and checks the files."""
  options = config.eval
  inception_variables = metrics.load_inception_variables(options.inception_weights)
  reference.check_reference(options.reference_stats, "reference_stats", reference_command)
  if options.reference_class_stats:
    reference.check_reference(options.reference_class_stats, "reference_class_stats",
                              reference_command)
  inception = reference.inception_provenance(config)
  _warn_if_not_protocol(options.inception_size)
  extract = metrics.make_feature_extractor(inception_variables, mesh=mesh,
                                           image_size=options.inception_size)
  root = jax.random.PRNGKey(config.seed)
  num_classes = config.model.num_classes

  def score(sampler: Sampler, variables: Any) -> Dict[str, Any]:
    results = fid_and_inception_score(
        sampler, variables, extract,
        uniform_labels(options.num_samples, num_classes, config.seed),
        jax.random.fold_in(root, FID_STREAM),
        metrics.load_statistics(options.reference_stats), options.is_splits, desc="FID/IS")
    per_class = None
    if options.reference_class_stats:
      results["intra_fid"], per_class = streamed_intra_fid(
          sampler, variables, extract, num_classes, options.samples_per_class,
          jax.random.fold_in(root, INTRA_FID_STREAM),
          metrics.load_class_statistics(options.reference_class_stats), desc="intra-FID")
    return {
        "results": results,
        "num_samples": options.num_samples,
        "is_splits": options.is_splits,
        "samples_per_class": options.samples_per_class if per_class is not None else None,
        "inception": inception,
        "reference_stats": reference.reference_provenance(
            options.reference_stats, config, inception),
        "reference_class_stats": (reference.reference_provenance(
            options.reference_class_stats, config, inception)
                                  if options.reference_class_stats else None),
        "per_class_fid": ({str(k): v for k, v in sorted(per_class.items())}
                          if per_class is not None else None),
    }

  return score


def _shapes_scorer(config: ml_collections.ConfigDict, mesh: Mesh) -> Scorer:
  """The shapes metrics (an_flax.evaluation.shapes); loads the classifier, reads the test split."""
  shapes_metrics = shapes.ShapesMetrics(config, mesh)
  num_samples = config.eval.shapes_num_samples
  labels = uniform_labels(num_samples, config.model.num_classes, config.seed)
  key = jax.random.fold_in(jax.random.PRNGKey(config.seed), SHAPES_STREAM)

  def score(sampler: Sampler, variables: Any) -> Dict[str, Any]:
    results, per_class = shapes_metrics(sampler, variables, labels, key, desc="shapes")
    return {"results": results, "num_samples": num_samples, **shapes_metrics.protocol(),
            "per_class_accuracy": {str(k): v for k, v in sorted(per_class.items())}}

  return score


def format_table(record: Mapping[str, Any]) -> str:
  """The headline numbers and the protocol they were measured under, as aligned text."""
  results = record["results"]
  rows = [("step", record["step"]), ("generator", record["generator"]),
          ("standing stats", record["standing_stats"] or "off"),
          ("truncation", record["truncation"] or "off"),
          ("samples", record["num_samples"])]
  if record["feature_network"] == "shapes":
    real, k = record["real"], record["nearest_k"]
    rows += [("reference", f"{record['reference']['dataset']} {record['reference']['split']} "
                           f"({record['reference']['num_images']} images)"),
             ("Frechet distance (shapes features)", f"{results['frechet_distance']:.3f}"),
             ("class accuracy", f"{results['class_accuracy']:.3f} "
                                f"(real: {real['class_accuracy']:.3f})"),
             (f"precision / recall (k={k['precision_recall']})",
              f"{results['precision']:.3f} / {results['recall']:.3f}"),
             (f"density / coverage (k={k['density_coverage']})",
              f"{results['density']:.3f} / {results['coverage']:.3f}")]
    rows += [(f"consistency error{'' if not layout else ' ' + layout} (uint8)",
              f"{results[name]:.2f} (real: {real[name]:.2f})")
             for layout, name in (("", "consistency_error"),
                                  ("mirror", "consistency_error_mirror"),
                                  ("tile", "consistency_error_tile")) if name in results]
  else:
    rows += [("reference", f"{record['reference_stats']['dataset']} "
                           f"{record['reference_stats']['split']}"),
             ("FID", f"{results['fid']:.2f}"),
             (f"IS ({record['is_splits']} splits)",
              f"{results['is_mean']:.2f} +- {results['is_std']:.2f}")]
    if "intra_fid" in results:
      rows.append((f"intra-FID ({record['samples_per_class']}/class)",
                   f"{results['intra_fid']:.2f}"))
  width = max(len(name) for name, _ in rows)
  return "\n".join(f"{name:<{width}}  {value}" for name, value in rows)


def _check_single_process() -> None:
  if jax.process_count() > 1:
    raise NotImplementedError(
        "FID runs in one process (the Inception extractor places host arrays); it uses "
        "all of that process's devices. Run eval.py without --distributed.")


def _warn_if_not_protocol(inception_size: int) -> None:
  if inception_size != INCEPTION_SIZE:
    logging.warning("config.eval.inception_size=%d: not comparable with published numbers "
                    "(%d).", inception_size, INCEPTION_SIZE)
