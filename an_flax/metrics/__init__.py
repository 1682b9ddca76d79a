"""Sample-quality metrics: FID, intra-FID and Inception Score that match pytorch-fid (TF
Inception graph 2015-12-05), and metrics on any feature network (the Inception network, or
the shipped classifier of the embedded `symmetric_shapes` data, which needs no download).

Protocol (resize "legacy", the default; `preprocess` also holds clean-fid's "clean" and
StudioGAN's "friendly"): generated float images in [-1, 1] are quantised to uint8 as a PNG
writer would (round half up), converted to [0, 1], resized to 299x299 bilinearly with
half-pixel centres and no antialiasing (torch `F.interpolate(mode='bilinear',
align_corners=False)`), mapped to [-1, 1] and fed to pytorch-fid's FID Inception;
statistics are float64 on the host.

Public API:
  load_inception_variables(path)        converted `.npz` -> Flax variables; clear error if
                                         missing or mismatched.
  make_feature_extractor(variables, resize="legacy") -> extract(images) -> (pool3, logits),
                                         sharded over all devices; takes uint8 or [-1, 1]
                                         float NHWC; logits omit the fc bias (OpenAI IS
                                         convention); resize "clean" / "friendly" is
                                         clean-fid's / StudioGAN's input path.
  resize_like_pil(images, size, resample) PIL's float resize as two matrix products.
  compute_statistics(batches, extract, keep_logits=False) -> (Statistics(mu, sigma), logits)
  compute_class_statistics(labelled_batches, extract) -> {label: Statistics}
  save_statistics / load_statistics     pytorch-fid `.npz` layout (`mu`, `sigma`).
  save_class_statistics / load_class_statistics   one `.npz`, `mu_<label>` / `sigma_<label>`.
  frechet_distance(mu1, sigma1, mu2, sigma2)      FID with pytorch-fid's numerical rules.
  intra_fid(generated, reference)       -> (mean over classes, {label: FID}).
  inception_score(logits, splits=10)    -> (mean, std); StudioGAN's protocol: splits=1.
  kernel_inception_distance(real, fake)  KID as clean-fid's `kernel_distance`.
  save_features / load_features         features + provenance beside `mu` / `sigma`
                                         (FeatureSpace: network, weights, resize).

FD_DINOv2 (dgm-eval's Frechet distance in DINOv2 ViT-L/14 features):
  load_dinov2_variables(path)           converted `.npz` -> Flax variables; clear error if
                                         missing or mismatched.
  make_dinov2_extractor(variables)      -> extract(images) -> (features (N, 1024), None),
                                         sharded like the Inception one; statistics and
                                         frechet_distance as for FID.

Any feature network (features, logits as `FeatureFn` returns them):
  load_shapes_classifier(image_size)    shipped symmetric_shapes classifier (32 or 64) ->
                                         variables; clear error if missing or mismatched.
  make_shapes_extractor(variables)      -> extract(images) -> (features (N, 128), logits).
  class_accuracy(logits, labels)        -> (overall, {label: accuracy}) (StudioGAN's CAS).
  precision_recall_density_coverage(real_features, fake_features, nearest_k) ->
                                         {'precision', ...}; nearest_k=5 (STUDIOGAN_K) is
                                         StudioGAN's, the default PAPERS_K each paper's.
  consistency_errors(images, labels, class_layouts), mean_by_layout(...): mirror / tile
                                         consistency in uint8 levels.

Typical evaluation:
  variables = load_inception_variables("inception_fid.npz")
  extract = make_feature_extractor(variables)
  stats, logits = compute_statistics(sample_batches, extract, keep_logits=True)
  fid = frechet_distance(*stats, *load_statistics(reference_path))
  is_mean, is_std = inception_score(logits)

Weights: `python -m an_flax.metrics.convert_inception_weights --input
pt_inception-2015-12-05-6726825d.pth --output inception_fid.npz` (needs torch, once);
`python -m an_flax.metrics.convert_dinov2_weights --input dinov2_vitl14_pretrain.pth
--output dinov2_vitl14.npz` likewise.
"""

from an_flax.metrics.consistency import consistency_errors, mean_by_layout
from an_flax.metrics.dinov2 import DinoVisionTransformer, make_dinov2_extractor
from an_flax.metrics.dinov2_weights import DINOv2WeightsError, load_dinov2_variables
from an_flax.metrics.extract import make_feature_extractor, sharded_feature_fn
from an_flax.metrics.feature_files import (
    FeatureFile, FeatureFileError, FeatureSpace, has_features, load_features, save_features)
from an_flax.metrics.inception import FIDInceptionV3
from an_flax.metrics.kid import kernel_inception_distance
from an_flax.metrics.prdc import (
    PAPERS_K, STUDIOGAN_K, NearestK, precision_recall_density_coverage)
from an_flax.metrics.preprocess import RESIZE_MODES, inception_input, resize_like_pil
from an_flax.metrics.scores import class_accuracy, frechet_distance, inception_score, intra_fid
from an_flax.metrics.shapes_classifier import (
    ShapesClassifier,
    ShapesClassifierError,
    load_shapes_classifier,
    make_shapes_extractor,
)
from an_flax.metrics.statistics import (
    FeatureFn,
    Statistics,
    StatsAccumulator,
    compute_class_statistics,
    compute_statistics,
    load_class_statistics,
    load_statistics,
    save_class_statistics,
    save_statistics,
)
from an_flax.metrics.weights import InceptionWeightsError, load_inception_variables

__all__ = [
    "DINOv2WeightsError",
    "DinoVisionTransformer",
    "FIDInceptionV3",
    "FeatureFile",
    "FeatureFileError",
    "FeatureFn",
    "FeatureSpace",
    "InceptionWeightsError",
    "NearestK",
    "PAPERS_K",
    "RESIZE_MODES",
    "STUDIOGAN_K",
    "ShapesClassifier",
    "ShapesClassifierError",
    "Statistics",
    "StatsAccumulator",
    "class_accuracy",
    "compute_class_statistics",
    "compute_statistics",
    "consistency_errors",
    "frechet_distance",
    "has_features",
    "inception_input",
    "inception_score",
    "intra_fid",
    "kernel_inception_distance",
    "load_class_statistics",
    "load_dinov2_variables",
    "load_features",
    "load_inception_variables",
    "load_shapes_classifier",
    "load_statistics",
    "make_dinov2_extractor",
    "make_feature_extractor",
    "make_shapes_extractor",
    "mean_by_layout",
    "precision_recall_density_coverage",
    "resize_like_pil",
    "save_class_statistics",
    "save_features",
    "save_statistics",
    "sharded_feature_fn",
]
