"""The shipped symmetric_shapes classifier's metrics (`an_flax.evaluation.shapes_metrics`).

`num_samples` samples of fixed z and uniform labels against the real test split, in
training (logged as `<name>/<metric>`, beside `<name>/real_consistency_error`, the real
images' own) and in eval.py. Only for `symmetric_shapes` at 32x32 or 64x64: the classifier
knows no other data.
"""

from typing import Any, Dict, List, Mapping, Tuple

import ml_collections

from an_flax.evaluation import shapes_metrics
from an_flax.evaluation.generate import uniform_labels
from an_flax.metrics import prdc, shapes_classifier
from an_flax.runtime import streams
from an_flax.runtime.config_checks import check as check_field


def defaults() -> ml_collections.ConfigDict:
  return ml_collections.ConfigDict(dict(
      every_steps=0,  # during training (0: only eval.py)
      num_samples=1_000,  # = the real test images (StudioGAN's matching)
  ))


def check(config: ml_collections.ConfigDict, entry: ml_collections.ConfigDict,
          field: str) -> None:
  """The classifier knows one dataset at two sizes, and the metrics need neighbours."""
  dataset, size = config.dataset.name, config.dataset.image_size
  check_field(dataset == "symmetric_shapes" and size in shapes_classifier.IMAGE_SIZES,
              f"{field}.type", f"the shapes metrics need dataset.name='symmetric_shapes' at "
              f"image_size {shapes_classifier.IMAGE_SIZES}, not {dataset!r} at {size} (use "
              "an 'inception' evaluator)")
  check_field(entry.every_steps >= 0, f"{field}.every_steps", "must be >= 0 (0: only eval.py)")
  least = prdc.DENSITY_COVERAGE_K + 1
  check_field(entry.num_samples >= least, f"{field}.num_samples",
              f"must be at least {least} (k-nearest-neighbour radii with k="
              f"{prdc.DENSITY_COVERAGE_K})")


class Evaluator:
  """Loads the classifier and measures the real images when built."""

  def __init__(self, name: str, entry: ml_collections.ConfigDict,
               config: ml_collections.ConfigDict, context: Any, training: bool):
    self.every_steps = entry.every_steps
    self._name, self._num_samples, self._sampler = name, entry.num_samples, context.sampler
    self._metrics = shapes_metrics.ShapesMetrics(config, context.mesh)
    self._labels = uniform_labels(entry.num_samples, config.model.num_classes, config.seed)
    self._key = streams.key(
        config.seed, streams.Stream.TRAINING_SHAPES if training else streams.Stream.SHAPES)
    self._real_error = self._metrics.real.summary()["consistency_error"]

  def __call__(self, variables: Any) -> Dict[str, float]:
    scores, _ = self._metrics(self._sampler, variables, self._labels, self._key)
    return {**{f"{self._name}/{metric}": value for metric, value in scores.items()},
            f"{self._name}/real_consistency_error": self._real_error}

  def report(self, variables: Any) -> Dict[str, Any]:
    """eval.py's record: the scores, per-class accuracy and the protocol."""
    results, per_class = self._metrics(self._sampler, variables, self._labels, self._key,
                                       desc="shapes")
    return {"type": "shapes", "results": results, "num_samples": self._num_samples,
            **self._metrics.protocol(),
            "per_class_accuracy": {str(k): v for k, v in sorted(per_class.items())}}

  @staticmethod
  def rows(report: Mapping[str, Any]) -> List[Tuple[str, str]]:
    """The report's headline numbers, as (name, value) rows of eval.py's table."""
    results, real, k = report["results"], report["real"], report["nearest_k"]
    rows = [("reference", f"{report['reference']['dataset']} {report['reference']['split']} "
                          f"({report['reference']['num_images']} images)"),
            ("samples", report["num_samples"]),
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
    return rows
