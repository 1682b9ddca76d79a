"""Checks of the `config.eval` fields, whose names, types and defaults are declared once in
`configs/default.py`: the Inception fields' defaults there are the published ImageNet
protocol, the shapes fields score the default run on `symmetric_shapes`.

What they mean:
  feature_network         network of `eval.py --mode=metrics`: 'inception' (FID, IS,
                          intra-FID; needs inception_weights and reference_stats) or
                          'shapes' (the shipped symmetric_shapes classifier: Frechet
                          distance, class accuracy, precision / recall / density /
                          coverage, consistency; symmetric_shapes 32x32 or 64x64 only,
                          against its test split, nothing to download).
  inception_weights       converted FID Inception `.npz` (see an_flax.metrics).
  reference_stats         real-image statistics `.npz` (`mu`, `sigma`), written by
                          `eval.py --mode=reference`, or pytorch-fid's.
  reference_class_stats   per-class statistics `.npz`; intra-FID runs only when set.
  reference_split         TFDS split the reference statistics are computed from.
  num_samples             generated samples for FID and IS.
  samples_per_class       generated samples per class for intra-FID.
  is_splits               Inception Score splits.
  batch_size              global sampling / Inception batch; None: `config.batch_size`.
  use_ema                 evaluate G_ema (else the raw G).
  standing_stats_batches  train-mode passes re-estimating G's BatchNorm statistics
                          (BigGAN's standing statistics; 0: off, BigGAN uses 16).
  truncation              |z| bound, out-of-range entries resampled (None: plain N(0, I)).
  fid_every_steps         FID of G_ema during training (0: off), on
  fid_num_samples         samples.
  num_npz_samples         samples written to `samples.npz` by `--mode=samples`.
  sample_classes          classes of the sample sheets (empty: 10 evenly spaced).
  inception_size          Inception input side. 299 is the protocol; smaller only for tests.
  shapes_every_steps      the shapes metrics of G_ema during training (0: off), on
  shapes_num_samples      samples (also those of feature_network='shapes'; the default is
                          the test split's 1000 images, as StudioGAN matches the counts).
"""

import jax
import ml_collections

from an_flax.metrics import prdc, shapes_classifier
from an_flax.metrics.inception import MIN_INPUT_SIZE
from an_flax.metrics.preprocess import INCEPTION_SIZE
from an_flax.runtime.config_checks import check

FEATURE_NETWORKS = ("inception", "shapes")


def batch_size(config: ml_collections.ConfigDict) -> int:
  """The global evaluation batch: `eval.batch_size`, or the training batch when unset."""
  return config.eval.batch_size or config.batch_size


def check_eval_config(config: ml_collections.ConfigDict) -> None:
  """Raises ValueError naming the first bad `config.eval` field (after the schema check)."""
  options, devices = config.eval, jax.device_count()
  size = batch_size(config)
  check(size >= 1 and size % devices == 0, "eval.batch_size",
        f"{size} must be a positive multiple of the {devices} devices")
  check(options.is_splits >= 1, "eval.is_splits", "must be at least 1")
  check(options.num_samples >= max(2, options.is_splits), "eval.num_samples",
        f"{options.num_samples} must be at least 2 and at least is_splits={options.is_splits}")
  check(options.samples_per_class >= 2, "eval.samples_per_class",
        "must be at least 2 (a covariance needs two samples)")
  check(options.fid_num_samples >= max(2, options.is_splits), "eval.fid_num_samples",
        f"{options.fid_num_samples} must be at least 2 and at least is_splits")
  check(options.standing_stats_batches >= 0, "eval.standing_stats_batches", "must be >= 0")
  check(options.num_npz_samples >= 0, "eval.num_npz_samples", "must be >= 0")
  check(options.truncation is None or options.truncation > 0, "eval.truncation",
        f"{options.truncation} must be positive, or None for no truncation")
  num_classes = config.model.num_classes
  check(all(0 <= c < num_classes for c in options.sample_classes), "eval.sample_classes",
        f"{tuple(options.sample_classes)} must lie in [0, model.num_classes={num_classes})")
  check(options.inception_size >= MIN_INPUT_SIZE, "eval.inception_size",
        f"must be at least {MIN_INPUT_SIZE} ({INCEPTION_SIZE}: the protocol)")
  check(options.feature_network in FEATURE_NETWORKS, "eval.feature_network",
        f"unknown {options.feature_network!r}; use one of {FEATURE_NETWORKS}")
  check(options.shapes_every_steps >= 0, "eval.shapes_every_steps", "must be >= 0 (0: off)")
  if options.feature_network == "shapes" or options.shapes_every_steps:
    _check_shapes(config)


def _check_shapes(config: ml_collections.ConfigDict) -> None:
  """The shapes classifier knows one dataset at two sizes, and needs neighbours."""
  field = ("eval.feature_network" if config.eval.feature_network == "shapes"
           else "eval.shapes_every_steps")
  dataset, size = config.dataset.name, config.dataset.image_size
  check(dataset == "symmetric_shapes" and size in shapes_classifier.IMAGE_SIZES, field,
        f"the shapes metrics need dataset.name='symmetric_shapes' at image_size "
        f"{shapes_classifier.IMAGE_SIZES}, not {dataset!r} at {size} (use 'inception' / 0)")
  least = prdc.DENSITY_COVERAGE_K + 1
  check(config.eval.shapes_num_samples >= least, "eval.shapes_num_samples",
        f"must be at least {least} (k-nearest-neighbour radii with k="
        f"{prdc.DENSITY_COVERAGE_K})")
