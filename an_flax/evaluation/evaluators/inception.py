"""FID, Inception Score, precision / recall / density / coverage, KID and intra-FID in
pytorch-fid's Inception network.

The shared part (`an_flax.evaluation.feature_metrics`): in training `training_num_samples`
samples of fixed z and labels (so successive values differ by the model only), logged as
`<name>/<metric>` (`fid`, `inception_score`, `precision`, ..., `kid`); in eval.py
`num_samples` samples, and intra-FID when `reference_class_stats` is set. The input path is
`resize` (legacy: pytorch-fid and the paper; clean: clean-fid; friendly: StudioGAN's
benchmark); the IS logits leave out the fc bias (OpenAI's code) unless `is_logits_with_bias`
(StudioGAN's). The report holds every protocol choice a number depends on: the weights
(path, sha256, the .pth they were converted from), the resize mode and input path, the
references (path, dataset, split), sample counts, IS splits and logits, k, KID's subsets.
"""

from typing import Any, Dict, List, Mapping, Optional, Tuple

import jax
import ml_collections
import numpy as np
from absl import logging
from jax.sharding import Mesh

from an_flax import metrics
from an_flax.evaluation import feature_metrics, reference
from an_flax.evaluation.generate import Sampler
from an_flax.metrics import networks
from an_flax.metrics.inception import MIN_INPUT_SIZE
from an_flax.metrics.preprocess import INCEPTION_SIZE, RESIZE_MODES
from an_flax.runtime import streams
from an_flax.runtime.config_checks import check as check_field

METRICS = ("fid", "is", "prdc", "kid")


def defaults() -> ml_collections.ConfigDict:
  return ml_collections.ConfigDict(dict(
      **feature_metrics.defaults(("fid", "is")),
      resize="legacy",  # the Inception input path: legacy, clean or friendly
      is_splits=10,
      is_logits_with_bias=False,  # OpenAI's IS code leaves the fc bias out; StudioGAN keeps it
      inception_weights="",  # converted pytorch-fid weights (.npz): docs/evaluation.md
      reference_class_stats="",  # per-class .npz; eval.py adds intra-FID when set
      samples_per_class=5_000,  # intra-FID
      inception_size=INCEPTION_SIZE,  # the protocol; smaller only in tests
  ))


def check(config: ml_collections.ConfigDict, entry: ml_collections.ConfigDict,
          field: str) -> None:
  del config
  check_field(entry.is_splits >= 1, f"{field}.is_splits", "must be at least 1")
  splits = entry.is_splits if "is" in entry.metrics else 0
  feature_metrics.check(entry, field, METRICS, least_samples=max(2, splits))
  check_field(entry.resize in RESIZE_MODES, f"{field}.resize",
              f"{entry.resize!r} is not one of {', '.join(RESIZE_MODES)}")
  check_field(entry.samples_per_class >= 2, f"{field}.samples_per_class",
              "must be at least 2 (a covariance needs two samples)")
  check_field(entry.inception_size >= MIN_INPUT_SIZE, f"{field}.inception_size",
              f"must be at least {MIN_INPUT_SIZE} ({INCEPTION_SIZE}: the protocol)")


def network(entry: ml_collections.ConfigDict, field: str, mesh: Mesh
            ) -> Tuple[networks.FeatureNetwork, Dict[str, Any]]:
  """The entry's Inception network on its input path, and its `network_record`."""
  built = networks.inception(entry.inception_weights, entry.resize,
                             image_size=entry.inception_size, mesh=mesh,
                             logits_with_bias=entry.is_logits_with_bias,
                             field=f"config.{field}.inception_weights")
  if entry.inception_size != INCEPTION_SIZE:
    logging.warning("config.%s.inception_size=%d: not comparable with published numbers "
                    "(%d).", field, entry.inception_size, INCEPTION_SIZE)
  return built, reference.network_record(built, entry.inception_weights, entry.inception_size)


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


class Evaluator(feature_metrics.FeatureEvaluator):
  """The shared evaluator in the Inception network, with intra-FID in eval.py."""

  type_name = "inception"

  def __init__(self, name: str, entry: ml_collections.ConfigDict,
               config: ml_collections.ConfigDict, context: Any, training: bool):
    field = f"evals.{name}"
    super().__init__(name, entry, config, context, training,
                     *network(entry, field, context.mesh))
    self._class_stats_path = "" if training else entry.reference_class_stats
    self._class_provenance = None
    if self._class_stats_path:
      class_field = f"{field}.reference_class_stats"
      reference.check_reference(self._class_stats_path, class_field, context.reference_command)
      self._class_provenance = reference.reference_provenance(
          self._class_stats_path, config, entry.reference_split, self._record, class_field,
          context.reference_command)
    self._intra_key = streams.key(config.seed, streams.Stream.INTRA_FID)

  def report(self, variables: Any) -> Dict[str, Any]:
    record = {**super().report(variables), "samples_per_class": None,
              "reference_class_stats": None, "per_class_fid": None}
    if self._class_stats_path:
      record["results"]["intra_fid"], per_class = streamed_intra_fid(
          self._sampler, variables, self._network.extract, self._config.model.num_classes,
          self._entry.samples_per_class, self._intra_key,
          metrics.load_class_statistics(self._class_stats_path), desc="intra-FID")
      record.update(samples_per_class=self._entry.samples_per_class,
                    reference_class_stats=self._class_provenance,
                    per_class_fid={str(k): v for k, v in sorted(per_class.items())})
    return record

  @staticmethod
  def rows(report: Mapping[str, Any]) -> List[Tuple[str, str]]:
    rows = feature_metrics.FeatureEvaluator.rows(report)
    if "intra_fid" in report["results"]:
      rows.append((f"intra-FID ({report['samples_per_class']}/class)",
                   f"{report['results']['intra_fid']:.2f}"))
    return rows
