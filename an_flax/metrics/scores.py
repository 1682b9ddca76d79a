"""FID, intra-FID, Inception Score and class accuracy from host-side statistics and logits
(float64)."""

import logging
from collections.abc import Mapping

import numpy as np
import scipy.linalg
import scipy.special
from numpy.typing import ArrayLike

from an_flax.metrics.statistics import Statistics


def frechet_distance(mu1: ArrayLike, sigma1: ArrayLike, mu2: ArrayLike, sigma2: ArrayLike,
                     eps: float = 1e-6) -> float:
  """||mu1 - mu2||^2 + Tr(S1 + S2 - 2 sqrt(S1 S2)), with pytorch-fid's numerical rules.

  As `pytorch_fid.fid_score.calculate_frechet_distance`: eps * I is added to both
  covariances only if sqrtm of the product is not finite; a complex root is accepted (real
  part taken) only if its diagonal's imaginary part is within atol 1e-3 of zero.
  pytorch-fid passes `disp=False`, which only changes how sqrtm reports its error estimate
  and is deprecated since SciPy 1.16, so it is omitted; the root is the same.
  """
  mu1, mu2 = np.atleast_1d(np.asarray(mu1, np.float64)), np.atleast_1d(np.asarray(mu2, np.float64))
  sigma1 = np.atleast_2d(np.asarray(sigma1, np.float64))
  sigma2 = np.atleast_2d(np.asarray(sigma2, np.float64))
  if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape:
    raise ValueError(f"Statistics differ in shape: mu {mu1.shape} vs {mu2.shape}, "
                     f"sigma {sigma1.shape} vs {sigma2.shape}.")
  diff = mu1 - mu2
  covmean = scipy.linalg.sqrtm(sigma1 @ sigma2)
  if not np.isfinite(covmean).all():
    logging.warning("FID: singular product; adding %g to the diagonal of both covariances.", eps)
    offset = np.eye(sigma1.shape[0]) * eps
    covmean = scipy.linalg.sqrtm((sigma1 + offset) @ (sigma2 + offset))
  if np.iscomplexobj(covmean):
    if not np.allclose(np.diagonal(covmean).imag, 0, atol=1e-3):
      raise ValueError(f"Imaginary component {np.max(np.abs(covmean.imag))}")
    covmean = covmean.real
  return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2 * np.trace(covmean))


def intra_fid(generated: Mapping[int, Statistics],
              reference: Mapping[int, Statistics]) -> tuple[float, dict[int, float]]:
  """Mean over the generated classes of FID(class samples, that class's real images).

  Returns (mean, per-class FIDs). Every generated class must have reference statistics.
  """
  missing = [label for label in generated if label not in reference]
  if missing:
    raise KeyError(f"No reference statistics for classes {missing[:10]} "
                   f"({len(missing)} missing).")
  per_class = {label: frechet_distance(*generated[label], *reference[label])
               for label in generated}
  return float(np.mean(list(per_class.values()))), per_class


def inception_score(logits: ArrayLike, splits: int = 10) -> tuple[float, float]:
  """(mean, std) over splits of exp(E_x[KL(p(y|x) || p(y))]), p(y) estimated per split.

  Splits are contiguous, `[i * N // splits, (i + 1) * N // splits)`, as in OpenAI's TF code.
  That code (used for the published IS numbers) computes logits as pool3 @ W without the fc
  bias: pass logits from `FIDInceptionV3(logits_with_bias=False)`, which
  `make_feature_extractor` uses by default.
  """
  p = scipy.special.softmax(np.asarray(logits, np.float64), axis=1)
  n = p.shape[0]
  if n < splits:
    raise ValueError(f"Need at least {splits} samples for {splits} splits, got {n}.")
  scores = []
  for i in range(splits):
    part = p[i * n // splits:(i + 1) * n // splits]
    # rel_entr is p * log(p / q) with 0 where p == 0, so one-hot predictions stay finite.
    kl = scipy.special.rel_entr(part, part.mean(axis=0, keepdims=True)).sum(axis=1).mean()
    scores.append(np.exp(kl))
  return float(np.mean(scores)), float(np.std(scores))


def class_accuracy(logits: ArrayLike, labels: ArrayLike) -> tuple[float, dict[int, float]]:
  """(overall, {label: accuracy}) of a classifier on class-conditional samples.

  Accuracy of class y is the fraction of the samples generated for y that the classifier
  assigns to y (the "classification accuracy" of StudioGAN's CAS); overall is over all
  samples. Ties in the logits go to the lowest class, as `argmax` breaks them.
  """
  labels = np.asarray(labels)
  correct = np.argmax(np.asarray(logits), axis=1) == labels
  per_class = {int(label): float(correct[labels == label].mean()) for label in np.unique(labels)}
  return float(correct.mean()), per_class
