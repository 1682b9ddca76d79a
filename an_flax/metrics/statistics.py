"""Inception feature statistics: streaming float64 mean/covariance and their `.npz` files.

Single statistics files hold `mu` (D,) and `sigma` (D, D), the layout pytorch-fid reads and
writes (`np.savez_compressed(path, mu=..., sigma=...)`), so files are exchangeable both ways.
Per-class statistics (intra-FID) live in one `.npz` with keys `mu_<label>` / `sigma_<label>`
(decimal label, e.g. `mu_7`); they are read lazily, one class at a time.
"""

import collections
import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import NamedTuple

import numpy as np
from numpy.typing import ArrayLike

# Maps a batch of images to host arrays (features (N, D), logits (N, K)): for the
# Inception network pool3 (N, 2048) and logits (N, 1008); for DINOv2 (N, 1024) and None.
FeatureFn = Callable[[ArrayLike], tuple[np.ndarray, np.ndarray | None]]


class Statistics(NamedTuple):
  mu: np.ndarray  # (D,) float64
  sigma: np.ndarray  # (D, D) float64


class StatsAccumulator:
  """Streaming mean and covariance equal to `np.mean(x, 0)` and `np.cov(x, rowvar=False)`.

  Holds only a D-vector and a DxD matrix in float64, never the features. Sums are taken
  around the first batch's mean (the "shifted data" algorithm) so the final subtraction
  does not cancel catastrophically when the mean is large relative to the spread.
  """

  def __init__(self) -> None:
    self.count = 0
    self._shift: np.ndarray | None = None
    self._sum: np.ndarray | None = None
    self._outer: np.ndarray | None = None

  def update(self, features: ArrayLike) -> None:
    x = np.asarray(features, dtype=np.float64)
    if x.shape[0] == 0:
      return
    if self._shift is None:
      self._shift = x.mean(axis=0)
      self._sum = np.zeros_like(self._shift)
      self._outer = np.zeros((x.shape[1], x.shape[1]))
    x = x - self._shift
    self.count += x.shape[0]
    self._sum += x.sum(axis=0)
    self._outer += x.T @ x

  def statistics(self) -> Statistics:
    if self.count < 2:
      raise ValueError(f"Need at least 2 samples for a covariance, got {self.count}.")
    mean = self._sum / self.count
    sigma = (self._outer - self.count * np.outer(mean, mean)) / (self.count - 1)
    return Statistics(self._shift + mean, sigma)


def compute_statistics(image_batches: Iterable[ArrayLike], extract: FeatureFn, *,
                       keep_logits: bool = False) -> tuple[Statistics, np.ndarray | None]:
  """pool3 statistics of all images; also the (N, 1008) logits (for IS) if `keep_logits`.

  Logits are returned rather than reduced here because the Inception Score needs all of
  them at once (splits); they are 4 KB per image, so leave them off for large reference sets.
  """
  acc, logits = StatsAccumulator(), []
  for images in image_batches:
    pool3, batch_logits = extract(images)
    acc.update(pool3)
    if keep_logits:
      logits.append(batch_logits)
  return acc.statistics(), (np.concatenate(logits) if keep_logits else None)


def compute_class_statistics(labelled_batches: Iterable[tuple[ArrayLike, ArrayLike]],
                             extract: FeatureFn) -> dict[int, Statistics]:
  """Per-class pool3 statistics from batches of (images, integer labels).

  Memory is one DxD float64 matrix per class seen (32 MiB at D=2048); for all 1000 ImageNet
  classes feed the data in several passes over class subsets.
  """
  accs: dict[int, StatsAccumulator] = collections.defaultdict(StatsAccumulator)
  for images, labels in labelled_batches:
    pool3, _ = extract(images)
    labels = np.asarray(labels)
    for label in np.unique(labels):
      accs[int(label)].update(pool3[labels == label])
  return {label: acc.statistics() for label, acc in sorted(accs.items())}


def save_statistics(path: str | os.PathLike, stats: Statistics) -> None:
  """Writes pytorch-fid's layout: compressed `.npz` with `mu` and `sigma`, at exactly `path`."""
  with open(path, "wb") as f:
    np.savez_compressed(f, mu=stats.mu, sigma=stats.sigma)


def load_statistics(path: str | os.PathLike) -> Statistics:
  """Reads `mu` and `sigma` from an `.npz` (ours or pytorch-fid's) as float64."""
  with np.load(path) as f:
    return Statistics(f["mu"].astype(np.float64), f["sigma"].astype(np.float64))


def save_class_statistics(path: str | os.PathLike, stats: Mapping[int, Statistics]) -> None:
  """Writes per-class statistics into one `.npz`: `mu_<label>`, `sigma_<label>` per class."""
  arrays = {}
  for label, s in stats.items():
    arrays[f"mu_{int(label)}"], arrays[f"sigma_{int(label)}"] = s.mu, s.sigma
  with open(path, "wb") as f:
    np.savez(f, **arrays)


class _LazyClassStatistics(Mapping[int, Statistics]):
  """Read-only view of a per-class `.npz`; each class is read from disk when accessed."""

  def __init__(self, path: str | os.PathLike) -> None:
    self._npz = np.load(path)
    self._labels = sorted(int(k[3:]) for k in self._npz.files if k.startswith("mu_"))

  def __getitem__(self, label: int) -> Statistics:
    return Statistics(self._npz[f"mu_{label}"].astype(np.float64),
                      self._npz[f"sigma_{label}"].astype(np.float64))

  def __contains__(self, label: object) -> bool:  # Without loading the arrays.
    return label in self._labels

  def __iter__(self) -> Iterator[int]:
    return iter(self._labels)

  def __len__(self) -> int:
    return len(self._labels)


def load_class_statistics(path: str | os.PathLike) -> Mapping[int, Statistics]:
  """Per-class statistics written by `save_class_statistics`, loaded lazily per class."""
  return _LazyClassStatistics(path)
