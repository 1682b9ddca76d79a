"""Sample quality on `symmetric_shapes` in the shipped classifier's features, no download.

`ShapesMetrics` scores a generator's class-conditional samples against the real test
split, which it reads and measures once when it is built (1000 images through a tiny
network: a second or two):
  frechet_distance   Frechet distance of the classifier's 128 penultimate features
                     (FID's formula in another network's features; not comparable to FID);
  class_accuracy     fraction of the samples of class y the classifier assigns to y;
  precision, recall (k = 3), density, coverage (k = 5) in the same features;
  consistency_error  mean |x - mirror(x)| / |x - shift(x, half)| by the class's layout,
                     in uint8 levels (an_flax.metrics.consistency), beside the real images'.
As StudioGAN does for precision / recall / density / coverage, the shapes evaluator's
`num_samples` defaults to the number of real images (1000); labels are uniform random over
the classes.
"""

import dataclasses
from typing import Any, Dict, Optional, Tuple

import jax
import ml_collections
import numpy as np
from jax.experimental import multihost_utils
from jax.sharding import Mesh

from an_flax import metrics
from an_flax.evaluation import reference
from an_flax.evaluation.generate import Sampler, sampling_batch_size
from an_flax.metrics import consistency, prdc, shapes_classifier
from an_flax.metrics.convert_inception_weights import sha256_of

SPLIT = "test"  # the classifier is trained on 'train'


def class_layouts() -> Tuple[str, ...]:
  """The dataset's layout of every class, in label order."""
  # Imported here, as input_pipeline below: config files import the evaluators, and
  # TensorFlow (which the data modules need) must load only when data is read.
  from an_flax.data import symmetric_shapes  # pylint: disable=import-outside-toplevel
  return tuple(symmetric_shapes.class_layout(c) for c in range(symmetric_shapes.NUM_CLASSES))


def read_split(config: ml_collections.ConfigDict, split: str,
               batch_size: int) -> Tuple[np.ndarray, np.ndarray]:
  """All (uint8 images, labels) of `split`, decoded as for training, in every process.

  Each process reads its slice; the slices are gathered, so every process holds the same
  arrays (the feature extractor takes the same host batch in every process).
  """
  from an_flax.data import input_pipeline  # pylint: disable=import-outside-toplevel
  batches = list(input_pipeline.create_eval_dataset(config, split, batch_size))
  images, labels, mask = (np.concatenate([b[k] for b in batches])
                          for k in ("image", "label", "mask"))
  if jax.process_count() > 1:
    images, labels, mask = (x.reshape(-1, *x.shape[2:]) for x in
                            multihost_utils.process_allgather((images, labels, mask)))
  return images[mask], labels[mask]


@dataclasses.dataclass(frozen=True)
class Measured:
  """What the classifier and the consistency error say about a set of images."""

  features: np.ndarray  # (N, 128) float32
  logits: np.ndarray  # (N, 10)
  labels: np.ndarray  # (N,) the classes the images are of (or were generated for)
  consistency_errors: np.ndarray  # (N,) uint8 levels

  @classmethod
  def of(cls, batches, extract: metrics.FeatureFn) -> "Measured":
    """Measures (uint8 images, labels) batches one at a time."""
    parts = []
    for images, labels in batches:
      features, logits = extract(images)
      parts.append((features, logits, labels,
                    metrics.consistency_errors(images, labels, class_layouts())))
    return cls(*(np.concatenate(column) for column in zip(*parts)))

  def summary(self) -> Dict[str, float]:
    """Class accuracy and consistency errors (all, by layout)."""
    accuracy, _ = metrics.class_accuracy(self.logits, self.labels)
    errors = metrics.mean_by_layout(self.consistency_errors, self.labels, class_layouts())
    return {"class_accuracy": accuracy,
            **{"consistency_error" + ("" if layout == "all" else f"_{layout}"): value
               for layout, value in errors.items()}}


def _statistics(features: np.ndarray) -> metrics.Statistics:
  accumulator = metrics.StatsAccumulator()
  accumulator.update(features)
  return accumulator.statistics()


class ShapesMetrics:
  """Scores samples against the real test split; built once, called per generator state.

  Building loads the classifier for `dataset.image_size` (a missing file fails here, before
  anything is restored or trained) and measures the real images.
  """

  def __init__(self, config: ml_collections.ConfigDict, mesh: Mesh):
    size = config.dataset.image_size
    self._weights = shapes_classifier.weights_path(size)
    self._extract = metrics.make_shapes_extractor(metrics.load_shapes_classifier(size),
                                                  mesh=mesh)
    self._training_record = shapes_classifier.load_training_record(size)
    batch_size = sampling_batch_size(config)
    images, labels = read_split(config, SPLIT, batch_size)
    self.real = Measured.of(((images[i:i + batch_size], labels[i:i + batch_size])
                             for i in range(0, len(images), batch_size)), self._extract)
    self._real_statistics = _statistics(self.real.features)
    self._reference = {"dataset": config.dataset.name, "split": SPLIT,
                       "num_images": len(labels),
                       "preprocessing": reference.PREPROCESSING.format(size=size)}

  def __call__(self, sampler: Sampler, variables: Any, labels: np.ndarray, key: jax.Array,
               desc: Optional[str] = None) -> Tuple[Dict[str, float], Dict[int, float]]:
    """(scores of one sample per entry of `labels`, {class: accuracy})."""
    fake = Measured.of(sampler.stream(variables, labels, key, desc), self._extract)
    _, per_class = metrics.class_accuracy(fake.logits, fake.labels)
    scores = {"frechet_distance": metrics.frechet_distance(
        *_statistics(fake.features), *self._real_statistics)}
    scores.update(fake.summary())
    scores.update(metrics.precision_recall_density_coverage(self.real.features,
                                                            fake.features))
    return scores, per_class

  def protocol(self) -> Dict[str, Any]:
    """The network and the reference the scores depend on, for the record."""
    return {
        "shapes_classifier": {
            "weights": self._weights, "sha256": sha256_of(self._weights),
            "test_accuracy": self._training_record["test_accuracy"],
            "features": shapes_classifier.NUM_FEATURES},
        "reference": self._reference,
        "nearest_k": {"precision_recall": prdc.PRECISION_RECALL_K,
                      "density_coverage": prdc.DENSITY_COVERAGE_K},
        "consistency": consistency.DEFINITION,
        "real": self.real.summary(),
    }
