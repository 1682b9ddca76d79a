"""Improved precision and recall (Kynkaanniemi et al., 2019) and density and coverage
(Naeem et al., 2020) of generated features against real ones, in float64 on the host.

As StudioGAN's `src/metrics/prdc.py` (= clovaai/generative-evaluation-prdc): Euclidean
distances; a point's radius is the distance to its k-th nearest neighbour in its own set
(itself excluded); "inside a ball" is strictly closer than its radius. StudioGAN uses one k
(5) for all four; here precision and recall take the k of their paper (3) and density and
coverage that of theirs (5), and the record says which. StudioGAN generates as many
samples as there are real images; so does the evaluation here.

Distances are taken a block of real rows at a time, so memory is `block x num_fake`
floats however many real features there are.
"""

import numpy as np
import scipy.spatial
from numpy.typing import ArrayLike

PRECISION_RECALL_K = 3
DENSITY_COVERAGE_K = 5
_BLOCK = 1024


def nearest_neighbour_radii(features: np.ndarray, k: int) -> np.ndarray:
  """Distance of each row to its k-th nearest other row, (N,)."""
  if len(features) <= k:
    raise ValueError(f"A k={k} neighbour radius needs more than {k} points, "
                     f"got {len(features)}.")
  radii = []
  for start in range(0, len(features), _BLOCK):
    distances = scipy.spatial.distance.cdist(features[start:start + _BLOCK], features)
    # The k+1-th smallest distance of a row: its own 0 is among the smallest.
    radii.append(np.partition(distances, k, axis=1)[:, k])
  return np.concatenate(radii)


def precision_recall_density_coverage(
    real: ArrayLike, fake: ArrayLike, precision_recall_k: int = PRECISION_RECALL_K,
    density_coverage_k: int = DENSITY_COVERAGE_K) -> dict[str, float]:
  """{'precision', 'recall', 'density', 'coverage'} of `fake` (M, D) against `real` (N, D).

  precision  fraction of fake points inside some real point's k=3 ball;
  recall     fraction of real points inside some fake point's k=3 ball;
  density    fake points' mean count of real k=5 balls they lie in, over 5;
  coverage   fraction of real points whose k=5 ball holds some fake point.
  """
  real, fake = np.asarray(real, np.float64), np.asarray(fake, np.float64)
  k_pr, k_dc = precision_recall_k, density_coverage_k
  real_pr, real_dc = nearest_neighbour_radii(real, k_pr), nearest_neighbour_radii(real, k_dc)
  fake_pr = nearest_neighbour_radii(fake, k_pr)
  precise = np.zeros(len(fake), bool)  # inside some real k_pr ball
  dense = np.zeros(len(fake))  # count of real k_dc balls around it
  recalled, covered = [], []
  for start in range(0, len(real), _BLOCK):
    block = slice(start, start + _BLOCK)
    distances = scipy.spatial.distance.cdist(real[block], fake)  # (block, M)
    precise |= (distances < real_pr[block, None]).any(axis=0)
    dense += (distances < real_dc[block, None]).sum(axis=0)
    recalled.append((distances < fake_pr[None]).any(axis=1))
    covered.append(distances.min(axis=1) < real_dc[block])
  return {"precision": float(precise.mean()),
          "recall": float(np.concatenate(recalled).mean()),
          "density": float(dense.mean() / k_dc),
          "coverage": float(np.concatenate(covered).mean())}
