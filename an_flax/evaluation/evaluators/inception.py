"""FID, Inception Score and intra-FID in pytorch-fid's Inception network.

Samples stream from the generator into the Inception statistics batch by batch; none are
kept (only the 1008 IS logits per sample). In training, `training_num_samples` samples of
fixed z and labels (so successive values differ by the model only) against
`reference_stats`, logged as `<name>/fid` and `<name>/inception_score`; in eval.py,
`num_samples` samples, and intra-FID when `reference_class_stats` is set. The report holds
every protocol choice a number depends on: the weights (path, sha256, the .pth they were
converted from), the input resize, the reference (path, dataset, split), sample counts
and IS splits.
"""

from typing import Any, Dict, List, Mapping, Optional, Tuple

import jax
import ml_collections
import numpy as np
from absl import logging

from an_flax import metrics
from an_flax.evaluation import reference
from an_flax.evaluation.generate import Sampler, uniform_labels
from an_flax.metrics.inception import MIN_INPUT_SIZE
from an_flax.metrics.preprocess import INCEPTION_SIZE
from an_flax.runtime import streams
from an_flax.runtime.config_checks import check as check_field


def defaults() -> ml_collections.ConfigDict:
  return ml_collections.ConfigDict(dict(
      every_steps=0,  # during training (0: only eval.py)
      num_samples=50_000,  # eval.py: the published protocol
      training_num_samples=5_000,  # during training: a cheaper, upward-biased estimate
      is_splits=10,
      inception_weights="",  # converted pytorch-fid weights (.npz): docs/evaluation.md
      reference_stats="",  # .npz with mu, sigma (eval.py --mode=reference writes it)
      reference_class_stats="",  # per-class .npz; eval.py adds intra-FID when set
      reference_split="train",  # the split eval.py --mode=reference reads
      samples_per_class=5_000,  # intra-FID
      inception_size=INCEPTION_SIZE,  # the protocol; smaller only in tests
  ))


def check(config: ml_collections.ConfigDict, entry: ml_collections.ConfigDict,
          field: str) -> None:
  del config
  check_field(entry.every_steps >= 0, f"{field}.every_steps", "must be >= 0 (0: only eval.py)")
  check_field(entry.is_splits >= 1, f"{field}.is_splits", "must be at least 1")
  for count in ("num_samples", "training_num_samples"):
    check_field(entry[count] >= max(2, entry.is_splits), f"{field}.{count}",
                f"{entry[count]} must be at least 2 and at least is_splits={entry.is_splits}")
  check_field(entry.samples_per_class >= 2, f"{field}.samples_per_class",
              "must be at least 2 (a covariance needs two samples)")
  check_field(entry.inception_size >= MIN_INPUT_SIZE, f"{field}.inception_size",
              f"must be at least {MIN_INPUT_SIZE} ({INCEPTION_SIZE}: the protocol)")


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


class Evaluator:
  """Loads the weights and reference statistics when built: a missing file fails first."""

  def __init__(self, name: str, entry: ml_collections.ConfigDict,
               config: ml_collections.ConfigDict, context: Any, training: bool):
    field = f"evals.{name}"
    self.every_steps = entry.every_steps
    self._name, self._entry, self._sampler = name, entry, context.sampler
    inception_variables = metrics.load_inception_variables(
        entry.inception_weights, f"config.{field}.inception_weights")
    reference.check_reference(entry.reference_stats, f"{field}.reference_stats",
                              context.reference_command)
    self._class_stats_path = "" if training else entry.reference_class_stats
    if self._class_stats_path:
      reference.check_reference(self._class_stats_path, f"{field}.reference_class_stats",
                                context.reference_command)
    if entry.inception_size != INCEPTION_SIZE:
      logging.warning("config.%s.inception_size=%d: not comparable with published numbers "
                      "(%d).", field, entry.inception_size, INCEPTION_SIZE)
    self._inception = reference.inception_provenance(entry)
    self._reference = metrics.load_statistics(entry.reference_stats)
    self._extract = metrics.make_feature_extractor(inception_variables, mesh=context.mesh,
                                                   image_size=entry.inception_size)
    self._num_classes = config.model.num_classes
    self._num_samples = entry.training_num_samples if training else entry.num_samples
    self._labels = uniform_labels(self._num_samples, self._num_classes, config.seed)
    self._key = streams.key(config.seed,
                            streams.Stream.TRAINING_FID if training else streams.Stream.FID)
    self._intra_key = streams.key(config.seed, streams.Stream.INTRA_FID)
    self._config = config

  def __call__(self, variables: Any) -> Dict[str, float]:
    scores = fid_and_inception_score(self._sampler, variables, self._extract, self._labels,
                                     self._key, self._reference, self._entry.is_splits)
    return {f"{self._name}/fid": scores["fid"],
            f"{self._name}/inception_score": scores["is_mean"]}

  def report(self, variables: Any) -> Dict[str, Any]:
    """eval.py's record: the scores and the protocol they were measured under."""
    entry = self._entry
    results = fid_and_inception_score(
        self._sampler, variables, self._extract, self._labels, self._key, self._reference,
        entry.is_splits, desc="FID/IS")
    per_class = None
    if self._class_stats_path:
      results["intra_fid"], per_class = streamed_intra_fid(
          self._sampler, variables, self._extract, self._num_classes, entry.samples_per_class,
          self._intra_key, metrics.load_class_statistics(self._class_stats_path),
          desc="intra-FID")
    provenance = lambda path: reference.reference_provenance(
        path, self._config, entry.reference_split, self._inception)
    return {
        "type": "inception",
        "results": results,
        "num_samples": self._num_samples,
        "is_splits": entry.is_splits,
        "samples_per_class": entry.samples_per_class if per_class is not None else None,
        "inception": self._inception,
        "reference_stats": provenance(entry.reference_stats),
        "reference_class_stats": (provenance(self._class_stats_path)
                                  if self._class_stats_path else None),
        "per_class_fid": ({str(k): v for k, v in sorted(per_class.items())}
                          if per_class is not None else None),
    }

  @staticmethod
  def rows(report: Mapping[str, Any]) -> List[Tuple[str, str]]:
    """The report's headline numbers, as (name, value) rows of eval.py's table."""
    results = report["results"]
    rows = [("reference", f"{report['reference_stats']['dataset']} "
                          f"{report['reference_stats']['split']}"),
            ("samples", report["num_samples"]),
            ("FID", f"{results['fid']:.2f}"),
            (f"IS ({report['is_splits']} splits)",
             f"{results['is_mean']:.2f} +- {results['is_std']:.2f}")]
    if "intra_fid" in results:
      rows.append((f"intra-FID ({report['samples_per_class']}/class)",
                   f"{results['intra_fid']:.2f}"))
    return rows
