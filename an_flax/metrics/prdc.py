"""Improved precision and recall (Kynkaanniemi et al., 2019) and density and coverage
(Naeem et al., 2020) of generated features against real ones, in float64 on the host.

As StudioGAN's `src/metrics/prdc.py` (= clovaai/generative-evaluation-prdc): Euclidean
distances; a point's radius is the distance to its k-th nearest neighbour in its own set
(itself excluded); "inside a ball" is strictly closer than its radius. The k is part of
the protocol (`NearestK`): StudioGAN's `worker.py` uses one k = 5 for all four
(`STUDIOGAN_K`); the shapes evaluation takes each paper's own k, 3 for precision and
recall and 5 for density and coverage (`PAPERS_K`, the default), and its record says which.
StudioGAN generates as many samples as there are real images; so does the evaluation here.

Distances are computed as sklearn's `pairwise_distances` (which StudioGAN calls) computes
them, |a|^2 + |b|^2 - 2 a.b in float64 clipped at 0: the bulk is a BLAS matrix product,
which 50,000 features of 2048 dimensions need (scipy's `cdist` is a plain loop). They are
taken a block of rows at a time, so memory is `block x num_fake` floats however many real
features there are.
"""

from typing import NamedTuple

import numpy as np
from numpy.typing import ArrayLike


class NearestK(NamedTuple):
  """The k of the neighbour balls: one for precision and recall, one for density and coverage."""
  precision_recall: int
  density_coverage: int


STUDIOGAN_K = NearestK(5, 5)  # StudioGAN's worker.py: nearest_k = 5
PAPERS_K = NearestK(3, 5)  # Kynkaanniemi et al.'s k, Naeem et al.'s k
PRECISION_RECALL_K, DENSITY_COVERAGE_K = PAPERS_K
_BLOCK = 1024


def pairwise_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
  """(len(a), len(b)) Euclidean distances of float64 rows, in sklearn's arithmetic."""
  squared = -2.0 * (a @ b.T)
  squared += (a * a).sum(axis=1)[:, None]
  squared += (b * b).sum(axis=1)[None, :]
  return np.sqrt(np.maximum(squared, 0.0))


def nearest_neighbour_radii(features: np.ndarray, k: int) -> np.ndarray:
  """Distance of each row to its k-th nearest other row, (N,)."""
  if len(features) <= k:
    raise ValueError(f"A k={k} neighbour radius needs more than {k} points, "
                     f"got {len(features)}.")
  radii = []
  for start in range(0, len(features), _BLOCK):
    distances = pairwise_distances(features[start:start + _BLOCK], features)
    # The k+1-th smallest distance of a row: its own 0 is among the smallest.
    radii.append(np.partition(distances, k, axis=1)[:, k])
  return np.concatenate(radii)


def precision_recall_density_coverage(real: ArrayLike, fake: ArrayLike,
                                      nearest_k: int | NearestK = PAPERS_K) -> dict[str, float]:
  """{'precision', 'recall', 'density', 'coverage'} of `fake` (M, D) against `real` (N, D).

  `nearest_k`: an int is one k for all four (StudioGAN's protocol: 5), a `NearestK` one per
  pair. With k_pr = nearest_k.precision_recall and k_dc = nearest_k.density_coverage:
  precision  fraction of fake points inside some real point's k_pr ball;
  recall     fraction of real points inside some fake point's k_pr ball;
  density    fake points' mean count of real k_dc balls they lie in, over k_dc;
  coverage   fraction of real points whose k_dc ball holds some fake point.
  """
  k_pr, k_dc = (nearest_k, nearest_k) if isinstance(nearest_k, int) else nearest_k
  real, fake = np.asarray(real, np.float64), np.asarray(fake, np.float64)
  real_radii = {k: nearest_neighbour_radii(real, k) for k in {k_pr, k_dc}}
  real_pr, real_dc = real_radii[k_pr], real_radii[k_dc]
  fake_pr = nearest_neighbour_radii(fake, k_pr)
  precise = np.zeros(len(fake), bool)  # inside some real k_pr ball
  dense = np.zeros(len(fake))  # count of real k_dc balls around it
  recalled, covered = [], []
  for start in range(0, len(real), _BLOCK):
    block = slice(start, start + _BLOCK)
    distances = pairwise_distances(real[block], fake)  # (block, M)
    precise |= (distances < real_pr[block, None]).any(axis=0)
    dense += (distances < real_dc[block, None]).sum(axis=0)
    recalled.append((distances < fake_pr[None]).any(axis=1))
    covered.append(distances.min(axis=1) < real_dc[block])
  return {"precision": float(precise.mean()),
          "recall": float(np.concatenate(recalled).mean()),
          "density": float(dense.mean() / k_dc),
          "coverage": float(np.concatenate(covered).mean())}
