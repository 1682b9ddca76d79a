"""What the inception and dinov2 evaluators share: a feature network's scores of streamed
samples against the reference split, in training and in eval.py.

An entry asks for its `metrics` by name:
  fid, fd_dinov2  the Frechet distance of the samples' statistics and the reference's
                  (`reference_stats`), in the entry's network;
  is              the Inception Score of the samples' logits (`is_splits`; the logits with
                  or without the fc bias: `is_logits_with_bias`), inception entries only;
  prdc            precision, recall, density and coverage with one k (`nearest_k`,
                  StudioGAN's 5) against the reference features (`reference_features`);
  kid             KID as clean-fid's `kernel_distance` against the reference features.
prdc and kid take as many real features as samples are generated (StudioGAN's matching).
Samples stream from the generator batch by batch; their features are kept only for prdc
and kid, their logits only for the IS. Both evaluator types draw the same samples (the
`FID` streams), so FID and FD_DINOv2 score the same images.
"""

from typing import Any, Dict, Iterable, List, Mapping, Sequence, Tuple

import ml_collections
import numpy as np

from an_flax import metrics
from an_flax.evaluation import reference
from an_flax.evaluation.generate import uniform_labels
from an_flax.metrics import kid, networks, prdc
from an_flax.runtime import streams
from an_flax.runtime.config_checks import check as check_field

FRECHET = {"fid": "FID", "fd_dinov2": "FD_DINOv2"}  # metric -> the name tables give it
FEATURES_DTYPES = ("float32", "float16")
# Result -> its training scalar's name (`<name>/<scalar>`); results not listed keep theirs.
SCALARS = {"is_mean": "inception_score", "is_std": None}


def defaults(metric_names: Tuple[str, ...]) -> Dict[str, Any]:
  """The fields every feature evaluator has, with `metric_names` as its default metrics."""
  return dict(
      every_steps=0,  # during training (0: only eval.py)
      metrics=metric_names,
      num_samples=50_000,  # eval.py: the published protocol
      training_num_samples=5_000,  # during training: a cheaper, upward-biased estimate
      reference_stats="",  # .npz with mu, sigma (eval.py --mode=reference writes it)
      reference_split="train",  # the split eval.py --mode=reference reads
      reference_features="",  # features for prdc and kid (--mode=reference writes it too)
      features_dtype="float32",  # of the features --mode=reference writes; float16: half
      nearest_k=prdc.STUDIOGAN_K.precision_recall,  # prdc's one k (StudioGAN's worker.py)
  )


def check(entry: ml_collections.ConfigDict, field: str, known: Sequence[str],
          least_samples: int = 2) -> None:
  """The shared fields; `known` are the type's metrics, `least_samples` the fewest samples
  its other fields need."""
  check_field(entry.every_steps >= 0, f"{field}.every_steps", "must be >= 0 (0: only eval.py)")
  asked = list(entry.metrics)
  unknown = [m for m in asked if m not in known]
  check_field(asked and not unknown and len(set(asked)) == len(asked), f"{field}.metrics",
              f"{tuple(asked)} must name each of its metrics once, of {', '.join(known)}")
  check_field(entry.nearest_k >= 1, f"{field}.nearest_k", "must be at least 1")
  check_field(entry.features_dtype in FEATURES_DTYPES, f"{field}.features_dtype",
              f"{entry.features_dtype!r} is not one of {', '.join(FEATURES_DTYPES)}")
  if "prdc" in asked:  # k-nearest-neighbour radii need more than k points
    least_samples = max(least_samples, entry.nearest_k + 1)
  for count in ("num_samples", "training_num_samples"):
    check_field(entry[count] >= least_samples, f"{field}.{count}",
                f"{entry[count]} must be at least {least_samples} (2 for a covariance, "
                "is_splits for the IS, nearest_k + 1 for prdc)")


def score(images: Iterable[np.ndarray], extract: metrics.FeatureFn,
          against: reference.Reference, entry: ml_collections.ConfigDict) -> Dict[str, float]:
  """The `entry.metrics` of the samples `images` (uint8 batches) against `against`."""
  accumulator, features, logits = metrics.StatsAccumulator(), [], []
  keep_features = any(m in reference.FEATURE_METRICS for m in entry.metrics)
  for batch in images:
    batch_features, batch_logits = extract(batch)
    accumulator.update(batch_features)
    if keep_features:
      features.append(batch_features)
    if "is" in entry.metrics:
      logits.append(batch_logits)
  fake = np.concatenate(features) if keep_features else None
  results = {}
  for metric in entry.metrics:
    if metric in FRECHET:
      results[metric] = metrics.frechet_distance(*accumulator.statistics(),
                                                 *against.statistics)
    elif metric == "is":
      results["is_mean"], results["is_std"] = metrics.inception_score(
          np.concatenate(logits), entry.is_splits)
    elif metric == "prdc":
      results.update(metrics.precision_recall_density_coverage(against.features, fake,
                                                               entry.nearest_k))
    elif metric == "kid":
      results["kid"] = metrics.kernel_inception_distance(against.features, fake)
  return results


class FeatureEvaluator:
  """Scores G's samples in one feature network against its reference; each evaluator type
  subclasses it with its network. Everything is loaded when built (the weights by the
  subclass, then the reference files): a missing or mismatched file fails first."""

  type_name: str  # the evaluator type, for records

  def __init__(self, name: str, entry: ml_collections.ConfigDict,
               config: ml_collections.ConfigDict, context: Any, training: bool,
               network: networks.FeatureNetwork, record: Dict[str, Any]):
    self.every_steps = entry.every_steps
    self._name, self._entry, self._sampler = name, entry, context.sampler
    self._network, self._record, self._config = network, record, config
    self._num_samples = entry.training_num_samples if training else entry.num_samples
    self._reference = reference.load_reference(config, entry, f"evals.{name}", record,
                                               self._num_samples, context.reference_command)
    self._labels = uniform_labels(self._num_samples, config.model.num_classes, config.seed)
    self._key = streams.key(config.seed,
                            streams.Stream.TRAINING_FID if training else streams.Stream.FID)

  def scores(self, variables: Any, desc: str | None = None) -> Dict[str, float]:
    """The entry's metrics of one sample per label, the same z and labels every call."""
    images = (batch for batch, _ in self._sampler.stream(variables, self._labels, self._key,
                                                         desc))
    return score(images, self._network.extract, self._reference, self._entry)

  def __call__(self, variables: Any) -> Dict[str, float]:
    scalars = {SCALARS.get(result, result): value
               for result, value in self.scores(variables).items()}
    return {f"{self._name}/{scalar}": value for scalar, value in scalars.items()
            if scalar is not None}

  def report(self, variables: Any) -> Dict[str, Any]:
    """eval.py's record: the scores and every protocol choice they depend on."""
    entry, against = self._entry, self._reference
    asked = tuple(entry.metrics)
    record = {"type": self.type_name,
              "results": self.scores(variables, desc=self._name),
              "metrics": list(asked),
              "num_samples": self._num_samples,
              "network": self._record,
              "reference_stats": against.provenance}
    if "is" in asked:
      record.update(is_splits=entry.is_splits, is_logits_with_bias=entry.is_logits_with_bias)
    if set(reference.FEATURE_METRICS) & set(asked):
      record["reference_features"] = against.features_provenance
    if "prdc" in asked:
      record["nearest_k"] = entry.nearest_k
    if "kid" in asked:
      record["kid"] = {"subsets": kid.NUM_SUBSETS,
                       "subset_size": min(kid.MAX_SUBSET_SIZE, self._num_samples,
                                          len(against.features))}
    return record

  @staticmethod
  def rows(report: Mapping[str, Any]) -> List[Tuple[str, str]]:
    """The report's headline numbers, as (name, value) rows of eval.py's table."""
    results, network = report["results"], report["network"]
    rows = [("reference", f"{report['reference_stats']['dataset']} "
                          f"{report['reference_stats']['split']}"),
            ("samples", report["num_samples"]),
            ("network", f"{network['network']}, resize {network['resize']}")]
    rows += [(FRECHET[m], f"{results[m]:.2f}") for m in report["metrics"] if m in FRECHET]
    if "is_mean" in results:
      bias = "with" if report["is_logits_with_bias"] else "without"
      rows.append((f"IS ({report['is_splits']} splits, logits {bias} the fc bias)",
                   f"{results['is_mean']:.2f} +- {results['is_std']:.2f}"))
    if "precision" in results:
      k = report["nearest_k"]
      rows += [(f"precision / recall (k={k})",
                f"{results['precision']:.3f} / {results['recall']:.3f}"),
               (f"density / coverage (k={k})",
                f"{results['density']:.3f} / {results['coverage']:.3f}")]
    if "kid" in results:
      rows.append((f"KID ({report['kid']['subsets']} subsets of "
                   f"{report['kid']['subset_size']})", f"{results['kid']:.5f}"))
    return rows

