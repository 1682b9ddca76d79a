"""Reference (real-image) Inception statistics: computing them, their provenance, and the
errors that say how to create them.

Real images go through the training input's preprocessing (centre square, antialiased
resize to `dataset.image_size`, uint8), then the same Inception input path as samples, so
FID compares what G was trained to produce with what it produces. Each statistics file
gets a provenance sidecar `<path>.json` (dataset, split, image count, Inception weights)
that `--mode=metrics` copies into its record; files from elsewhere (e.g. pytorch-fid's)
work without one.
"""

import json
import os
import zipfile
from typing import Any, Dict

import jax
import ml_collections
import numpy as np
import tqdm
from absl import logging
from jax.experimental import multihost_utils

from an_flax import metrics
from an_flax.evaluation.generate import sampling_batch_size
from an_flax.metrics import weights
from an_flax.metrics.convert_inception_weights import sha256_of
from an_flax.runtime import mesh as mesh_lib

RESIZE = ("uint8 images (generated ones quantised, round half up), bilinear resize to "
          "{size}x{size} without antialiasing (half-pixel centres, as torch F.interpolate "
          "align_corners=False), scaled to [-1, 1]")
PREPROCESSING = ("training input preprocessing: centre square crop, antialiased bilinear "
                 "resize to {size}x{size}, uint8")
PREPARED = ("prepared records (python -m an_flax.data.prepare): PIL decode, torchvision's "
            "centre square, PIL {resizer} resize to {size}x{size}, uint8")
DEFAULT_COMMAND = "python eval.py --config=<this config> --mode=reference"


def provenance_path(stats_path: str) -> str:
  return stats_path + ".json"


def inception_provenance(entry: ml_collections.ConfigDict) -> Dict[str, Any]:
  """Which Inception weights and input path an inception evaluator `entry` uses: enough to
  tell comparable numbers apart."""
  options = entry
  with np.load(options.inception_weights) as f:
    source = str(f[weights.SOURCE_SHA256_KEY]) if weights.SOURCE_SHA256_KEY in f else None
  return {"weights": os.path.abspath(options.inception_weights),
          "sha256": sha256_of(options.inception_weights),
          "source_sha256": source,
          "expected_source": f"{weights.PTH_FILENAME} (sha256 {weights.PTH_SHA256_PREFIX}...)",
          "input_size": options.inception_size,
          "resize": RESIZE.format(size=options.inception_size)}


def check_reference(path: str, field: str, command: str = DEFAULT_COMMAND) -> None:
  """Raises FileNotFoundError naming `config.<field>` and the command creating it."""
  create = (f"Create it (once per dataset, split and Inception weights) with\n  {command}")
  if not path:
    raise FileNotFoundError(f"config.{field} is not set: it must name the reference "
                            f"statistics .npz. {create}")
  if not os.path.isfile(path):
    raise FileNotFoundError(f"Reference statistics not found: config.{field}="
                            f"{path!r} ({os.path.abspath(path)}). {create}")


def reference_provenance(path: str, config: ml_collections.ConfigDict, split: str,
                         inception: Dict[str, Any]) -> Dict[str, Any]:
  """The sidecar of `path`, or what the config says (the dataset, `split`) when there is
  none.

  Warns when the statistics came from other Inception weights or input size than this
  evaluation's: their FID would be meaningless.
  """
  sidecar = provenance_path(path)
  if not os.path.isfile(sidecar):
    return {"path": os.path.abspath(path), "dataset": config.dataset.name,
            "split": split,
            "source": "config (the file has no provenance sidecar)"}
  with open(sidecar) as f:
    provenance = json.load(f)
  theirs = provenance.get("inception", {})
  for key in ("source_sha256", "input_size"):
    if theirs.get(key) != inception[key]:
      logging.warning("%s was computed with Inception %s %r, this evaluation uses %r: the "
                      "FID is not meaningful.", path, key, theirs.get(key), inception[key])
  return {"path": os.path.abspath(path), **provenance, "source": sidecar}


def write_reference(config: ml_collections.ConfigDict, entry: ml_collections.ConfigDict,
                    field: str) -> Dict[str, Any]:
  """`--mode=reference` for the inception evaluator `entry` (at `config.<field>`): loads
  its Inception weights, then `compute_reference`."""
  variables = metrics.load_inception_variables(entry.inception_weights,
                                               f"config.{field}.inception_weights")
  extract = metrics.make_feature_extractor(variables, mesh=mesh_lib.create_mesh(),
                                           image_size=entry.inception_size)
  return compute_reference(config, entry, field, extract, inception_provenance(entry))


def compute_reference(config: ml_collections.ConfigDict, entry: ml_collections.ConfigDict,
                      field: str, extract: metrics.FeatureFn, inception: Dict[str, Any]
                      ) -> Dict[str, Any]:
  """Writes the `reference_stats` (and `reference_class_stats` when set) of an inception
  evaluator `entry`, from its `reference_split`.

  One pass over the data. Per-class statistics need one DxD matrix per class (33 GB for
  ImageNet's 1000), so pool3 features (float32, 10.5 GB for ImageNet train) go to a
  temporary file next to the output and classes are reduced one at a time.
  """
  options = entry
  if not options.reference_stats:
    raise ValueError(f"config.{field}.reference_stats is not set: set it to the .npz to "
                     "write.")
  class_path = options.reference_class_stats
  features_path = f"{class_path}.features.tmp" if class_path else None
  for path in (options.reference_stats, class_path):
    if path:
      os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  accumulator, labels = metrics.StatsAccumulator(), []
  # Imported here: config files import the evaluators, and TensorFlow (which the input
  # pipeline needs) must load only when real images are read.
  from an_flax.data import input_pipeline  # pylint: disable=import-outside-toplevel
  batches = input_pipeline.create_eval_dataset(config, options.reference_split,
                                               sampling_batch_size(config))
  writer = jax.process_index() == 0  # every process holds every feature: one writes
  try:
    with open(features_path if features_path and writer else os.devnull, "wb") as features:
      for batch in tqdm.tqdm(batches, desc=f"Reference {options.reference_split}",
                             unit="batch"):
        # Each process reads its own rows; all get the features of the global batch.
        pool3, _ = extract(batch["image"], process_local=True)
        keep, batch_labels = (multihost_utils.process_allgather(batch[key], tiled=True)
                              for key in ("mask", "label"))
        accumulator.update(pool3[keep])  # padding rows (mask False) dropped
        labels.append(batch_labels[keep])
        if features_path:
          features.write(np.ascontiguousarray(pool3[keep], np.float32).tobytes())
    if not writer:
      return {}
    metrics.save_statistics(options.reference_stats, accumulator.statistics())
    labels = np.concatenate(labels)
    provenance = {
        "dataset": config.dataset.name, "split": options.reference_split,
        "num_images": accumulator.count,
        "preprocessing": (PREPARED if config.dataset.get("prepared") else PREPROCESSING).format(
            size=config.dataset.image_size, resizer=config.dataset.get("resizer")),
        "inception": inception}
    _write_json(provenance_path(options.reference_stats), provenance)
    if class_path:
      features = np.memmap(features_path, np.float32, "r").reshape(len(labels), -1)
      counts = _save_class_statistics(class_path, features, labels)
      _write_json(provenance_path(class_path), {**provenance, "images_per_class": counts})
  finally:
    if features_path and os.path.exists(features_path):
      os.remove(features_path)
  logging.info("Wrote reference statistics of %d images to %s%s.", accumulator.count,
               options.reference_stats, f" and {class_path}" if class_path else "")
  return provenance


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
