"""The reference (real images) of a feature network: its statistics and features computed in one
pass over a split, their provenance, the checks that refuse another network's or input
path's, and the errors that say how to create them.

Real images go through the training input's preprocessing (centre square, antialiased
resize to `dataset.image_size`, uint8), then the same input path as samples, so the
distance compares what G was trained to produce with what it produces. Each statistics
file gets a provenance sidecar `<path>.json` (dataset, split, image count, and the network:
its name, weights, resize mode and input path) that eval.py copies into its record and
checks: statistics of another network or resize mode are refused, other weights or input
size only warned about. Files from elsewhere (e.g. pytorch-fid's) work without a sidecar.

A features file (`reference_features`: precision, recall, density, coverage and KID compare
individual features) holds a uniformly random subset of the split's features, as many as
the evaluator's `num_samples`, as StudioGAN's `prepare_real_feats` keeps as many real
features as it generates samples; its provenance is `an_flax.metrics.feature_files`'.
"""

import dataclasses
import json
import os
import zipfile
from typing import Any, BinaryIO, Dict, List, Optional, Sequence, Tuple

import jax
import ml_collections
import numpy as np
import tqdm
from absl import logging
from jax.experimental import multihost_utils

from an_flax import metrics
from an_flax.evaluation.generate import sampling_batch_size
from an_flax.metrics import networks
from an_flax.metrics.convert_inception_weights import sha256_of
from an_flax.metrics.feature_files import FeatureFileError, FeatureSpace

PREPROCESSING = ("training input preprocessing: centre square crop, antialiased bilinear "
                 "resize to {size}x{size}, uint8")
PREPARED = ("prepared records (python -m an_flax.data.prepare): PIL decode, torchvision's "
            "centre square, PIL {resizer} resize to {size}x{size}, uint8")
DEFAULT_COMMAND = "python eval.py --config=<this config> --mode=reference"
FEATURE_METRICS = ("prdc", "kid")  # the metrics that compare individual features
SPACE_FIELDS = tuple(field.name for field in dataclasses.fields(FeatureSpace))


class ReferenceMismatchError(ValueError):
  """Reference statistics recorded with another network or resize mode than the evaluation's."""


@dataclasses.dataclass(frozen=True)
class Reference:
  """What an evaluator scores samples against."""

  statistics: metrics.Statistics
  provenance: Dict[str, Any]  # the statistics' sidecar, or the config's dataset and split
  features: Optional[np.ndarray] = None  # (N, D) for prdc and kid, when asked for
  features_provenance: Optional[Dict[str, Any]] = None


def provenance_path(stats_path: str) -> str:
  return stats_path + ".json"


def network_record(network: networks.FeatureNetwork, weights: str, input_size: int
                   ) -> Dict[str, Any]:
  """Which network, weights and input path features come from: its `FeatureSpace` (network,
  weights_sha256: of the .pth the weights were converted from, resize), the converted file
  and its sha256, and what the input path does. Enough to tell comparable numbers apart."""
  return {**dataclasses.asdict(network.space), "weights": os.path.abspath(weights),
          "sha256": sha256_of(weights), "input_size": input_size,
          "input": networks.describe_input(network.space.resize, input_size)}


def check_reference(path: str, field: str, command: str = DEFAULT_COMMAND,
                    what: str = "reference statistics .npz") -> None:
  """Raises FileNotFoundError naming `config.<field>` and the command creating it."""
  create = (f"Create it (once per dataset, split, network and resize mode) with\n  {command}")
  if not path:
    raise FileNotFoundError(f"config.{field} is not set: it must name the {what}. {create}")
  if not os.path.isfile(path):
    raise FileNotFoundError(f"Reference file not found: config.{field}={path!r} "
                            f"({os.path.abspath(path)}). {create}")


def split_provenance(config: ml_collections.ConfigDict, split: str, num_images: int
                     ) -> Dict[str, Any]:
  """Which real images: the dataset, split, count and how they were preprocessed."""
  template = PREPARED if config.dataset.get("prepared") else PREPROCESSING
  return {"dataset": config.dataset.name, "split": split, "num_images": num_images,
          "preprocessing": template.format(size=config.dataset.image_size,
                                           resizer=config.dataset.get("resizer"))}


def reference_provenance(path: str, config: ml_collections.ConfigDict, split: str,
                         network: Dict[str, Any], field: str,
                         command: str = DEFAULT_COMMAND) -> Dict[str, Any]:
  """The sidecar of the statistics at `path` (`config.<field>`), or what the config says (the
  dataset, `split`) when there is none, checked against this evaluation's `network_record`.

  Raises ReferenceMismatchError when the sidecar records another network or resize mode;
  warns when it records other weights or another input size, or no network at all.
  """
  sidecar = provenance_path(path)
  if not os.path.isfile(sidecar):
    return {"path": os.path.abspath(path), "dataset": config.dataset.name, "split": split,
            "source": "config (the file has no provenance sidecar)"}
  with open(sidecar) as f:
    provenance = json.load(f)
  theirs = provenance.get("network")
  if theirs is None:
    logging.warning("%s records no network and resize mode: its statistics are assumed to be "
                    "of %s.", sidecar, FeatureSpace(**_space(network)).describe())
  elif (theirs.get("network"), theirs.get("resize")) != (network["network"], network["resize"]):
    raise ReferenceMismatchError(
        f"config.{field}={path!r} holds statistics of network {theirs.get('network')!r} with "
        f"resize {theirs.get('resize')!r} ({sidecar}); this evaluation uses network "
        f"{network['network']!r} with resize {network['resize']!r}. Statistics of another "
        f"network or input path are not comparable: compute them again with\n  {command}")
  else:
    for key in ("weights_sha256", "input_size"):
      if theirs.get(key) != network[key]:
        logging.warning("%s was computed with %s %r, this evaluation uses %r: the distance is "
                        "not meaningful.", path, key, theirs.get(key), network[key])
  return {"path": os.path.abspath(path), **provenance, "source": sidecar}


def load_reference(config: ml_collections.ConfigDict, entry: ml_collections.ConfigDict,
                   field: str, network: Dict[str, Any], num_features: int,
                   command: str = DEFAULT_COMMAND) -> Reference:
  """The statistics of an evaluator `entry` (at `config.<field>`), checked against its
  `network_record`; with `prdc` or `kid` in its metrics also `num_features` of its
  reference features (a fixed random subset when the file holds more, all when fewer).

  Raises FileNotFoundError for a file that is not set or not there, and ValueError for a
  file of another network, weights or resize mode, each naming the field.
  """
  stats_field = f"{field}.reference_stats"
  check_reference(entry.reference_stats, stats_field, command)
  provenance = reference_provenance(entry.reference_stats, config, entry.reference_split,
                                    network, stats_field, command)
  statistics = metrics.load_statistics(entry.reference_stats)
  if not set(FEATURE_METRICS) & set(entry.metrics):
    return Reference(statistics, provenance)
  features_field = f"{field}.reference_features"
  check_reference(entry.reference_features, features_field, command,
                  what="reference features file (prdc and kid compare individual features)")
  try:
    saved = metrics.load_features(entry.reference_features, FeatureSpace(**_space(network)))
  except FeatureFileError as error:
    raise FeatureFileError(f"config.{features_field}: {error}") from None
  chosen = random_subset(len(saved.features), num_features, config.seed)
  return Reference(statistics, provenance, saved.features[chosen],
                   {"path": os.path.abspath(entry.reference_features), **saved.provenance,
                    "num_used": len(chosen)})


def random_subset(num: int, count: int, seed: int) -> np.ndarray:
  """Sorted indices of `count` of `num` rows drawn uniformly without replacement (all `num`
  when `count` is not smaller)."""
  if count >= num:
    return np.arange(num)
  return np.sort(np.random.default_rng(seed).choice(num, count, replace=False))


def measure_split(config: ml_collections.ConfigDict, split: str,
                  extracts: Sequence[metrics.FeatureFn],
                  sinks: Optional[Sequence[Optional[BinaryIO]]] = None
                  ) -> Tuple[List[metrics.StatsAccumulator], np.ndarray]:
  """One pass over the real images of `split`: the statistics of each extractor's features
  and the labels; each extractor's features also appended to its sink (float32 rows), when
  it has one."""
  # Imported here: config files import the evaluators, and TensorFlow (which the input
  # pipeline needs) must load only when real images are read.
  from an_flax.data import input_pipeline  # pylint: disable=import-outside-toplevel
  batches = input_pipeline.create_eval_dataset(config, split, sampling_batch_size(config))
  accumulators = [metrics.StatsAccumulator() for _ in extracts]
  sinks = sinks or [None] * len(extracts)
  labels = []
  for batch in tqdm.tqdm(batches, desc=f"Reference {split}", unit="batch"):
    # Each process reads its own rows; every process gets the features of the global batch.
    keep, batch_labels = (multihost_utils.process_allgather(batch[key], tiled=True)
                          for key in ("mask", "label"))
    labels.append(batch_labels[keep])  # padding rows (mask False) are dropped
    for extract, accumulator, sink in zip(extracts, accumulators, sinks):
      features = extract(batch["image"], process_local=True)[0][keep]
      accumulator.update(features)
      if sink is not None:
        sink.write(np.ascontiguousarray(features, np.float32).tobytes())
  return accumulators, np.concatenate(labels)


def compute_reference(config: ml_collections.ConfigDict, entry: ml_collections.ConfigDict,
                      field: str, network: networks.FeatureNetwork, record: Dict[str, Any]
                      ) -> Dict[str, Any]:
  """Writes the `reference_stats` of an evaluator `entry` (at `config.<field>`) from its
  `reference_split`, and its `reference_class_stats` and `reference_features` where the
  entry has them set; `record` is `network`'s `network_record`.

  One pass over the data. Per-class statistics need one DxD matrix per class (33 GB for
  ImageNet's 1000) and features are subsampled once the count is known, so the features
  (float32, 10.5 GB for ImageNet train) go to a temporary file next to the statistics.
  """
  if not entry.reference_stats:
    raise ValueError(f"config.{field}.reference_stats is not set: set it to the .npz to "
                     "write.")
  class_path = entry.get("reference_class_stats", "")
  features_path = entry.get("reference_features", "")
  for path in (entry.reference_stats, class_path, features_path):
    if path:
      os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  spill = f"{entry.reference_stats}.features.tmp" if class_path or features_path else None
  split = entry.reference_split
  try:
    writer = jax.process_index() == 0  # every process holds every feature: one writes
    with open(spill if spill and writer else os.devnull, "wb") as sink:
      [accumulator], labels = measure_split(config, split, [network.extract],
                                            [sink if spill else None])
    if not writer:
      return {}
    metrics.save_statistics(entry.reference_stats, accumulator.statistics())
    provenance = {**split_provenance(config, split, accumulator.count), "network": record}
    _write_json(provenance_path(entry.reference_stats), provenance)
    features = np.memmap(spill, np.float32, "r").reshape(len(labels), -1) if spill else None
    if class_path:
      counts = _save_class_statistics(class_path, features, labels)
      _write_json(provenance_path(class_path), {**provenance, "images_per_class": counts})
    if features_path:
      chosen = random_subset(len(labels), entry.num_samples, config.seed)
      metrics.save_features(
          features_path, features[chosen], network.space,
          {"dataset": config.dataset.name, "split": split, "images_in_split": len(labels),
           "subset": f"{len(chosen)} of {len(labels)} drawn uniformly at random (seed "
                     f"{config.seed})", "preprocessing": provenance["preprocessing"]},
          entry.features_dtype)
  finally:
    if spill and os.path.exists(spill):
      os.remove(spill)
  logging.info("Wrote the reference of %d images to %s.", accumulator.count,
               ", ".join(p for p in (entry.reference_stats, class_path, features_path) if p))
  return provenance


def _space(network: Dict[str, Any]) -> Dict[str, str]:
  return {name: network[name] for name in SPACE_FIELDS}


def _save_class_statistics(path: str, features: np.ndarray, labels: np.ndarray
                           ) -> Dict[str, int]:
  """Per-class statistics in `metrics.save_class_statistics`'s layout, one class in memory
  at a time (np.savez would hold them all). Returns the image count of each class."""
  counts = {}
  with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED, allowZip64=True) as archive:
    for label in np.unique(labels):
      rows = np.flatnonzero(labels == label)
      if len(rows) < 2:
        logging.warning("Class %d has %d image(s): no statistics.", label, len(rows))
        continue
      accumulator = metrics.StatsAccumulator()
      accumulator.update(features[rows])
      stats = accumulator.statistics()
      for name, array in (("mu", stats.mu), ("sigma", stats.sigma)):
        with archive.open(f"{name}_{int(label)}.npy", "w", force_zip64=True) as f:
          np.lib.format.write_array(f, array)
      counts[str(int(label))] = len(rows)
  return counts


def _write_json(path: str, record: Dict[str, Any]) -> None:
  with open(path, "w") as f:
    json.dump(record, f, indent=2)
