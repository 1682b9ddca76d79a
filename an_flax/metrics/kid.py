"""Kernel Inception Distance (Binkowski et al., 2018) as clean-fid reports it, float64 on host.

clean-fid's `cleanfid/fid.py` `kernel_distance(feats1, feats2)` (GaParmar/clean-fid at
e88c4d62): the unbiased estimate of MMD^2 with the cubic polynomial kernel
k(x, y) = (x.y / d + 1)^3, averaged over 100 pairs of random subsets of min(1000, N, M)
features each, drawn without replacement. clean-fid draws them from NumPy's global
generator, unseeded; here a `np.random.RandomState(seed)` makes the same calls in the same
order, so `np.random.seed(seed)` before clean-fid's function draws the same subsets. (The
legacy RandomState, not `default_rng`: its `choice` is the one clean-fid's draws come from.)
clean-fid computes in its features' dtype (float32 for its network); here float64.
"""

import numpy as np
from numpy.typing import ArrayLike

NUM_SUBSETS = 100
MAX_SUBSET_SIZE = 1000


def polynomial_kernel(x: np.ndarray, y: np.ndarray) -> np.ndarray:
  """(x.y / d + 1)^3 for every pair of rows, d the feature dimension."""
  return (x @ y.T / x.shape[1] + 1.0) ** 3


def unbiased_mmd2(x: np.ndarray, y: np.ndarray) -> float:
  """MMD^2 of two equal-size samples: within-set kernel means over the m(m - 1) pairs of
  distinct rows, the cross term over all m^2 pairs (clean-fid's and the KID paper's)."""
  m = len(x)
  within = polynomial_kernel(x, x), polynomial_kernel(y, y)
  off_diagonal = sum(k.sum() - np.trace(k) for k in within)
  return float(off_diagonal / (m * (m - 1)) - 2.0 * polynomial_kernel(x, y).sum() / m**2)


def kernel_inception_distance(real: ArrayLike, fake: ArrayLike, *,
                              num_subsets: int = NUM_SUBSETS,
                              max_subset_size: int = MAX_SUBSET_SIZE, seed: int = 0) -> float:
  """KID of `fake` (M, D) against `real` (N, D): clean-fid's `kernel_distance(real, fake)`.

  Each subset pair draws the fake rows first, then the real rows, as clean-fid does.
  """
  real, fake = np.asarray(real, np.float64), np.asarray(fake, np.float64)
  if real.shape[1:] != fake.shape[1:]:
    raise ValueError(f"KID needs features of one dimension, got {real.shape} and {fake.shape}.")
  m = min(len(real), len(fake), max_subset_size)
  if m < 2:
    raise ValueError(f"KID needs at least 2 features on each side, got {len(real)} real "
                     f"and {len(fake)} fake.")
  rng = np.random.RandomState(seed)
  total = 0.0
  for _ in range(num_subsets):
    x = fake[rng.choice(len(fake), m, replace=False)]
    y = real[rng.choice(len(real), m, replace=False)]
    total += unbiased_mmd2(x, y)
  return total / num_subsets
