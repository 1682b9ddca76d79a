"""KID against clean-fid's `kernel_distance` transcribed (same seeded draws, float64) and
against the unbiased MMD^2 written out pair by pair."""

import itertools

import numpy as np
import pytest

from an_flax.metrics.kid import kernel_inception_distance


def clean_fid_kernel_distance(feats1, feats2, num_subsets=100, max_subset_size=1000):
  """`cleanfid/fid.py` `kernel_distance` (GaParmar/clean-fid at e88c4d62), line for line."""
  n = feats1.shape[1]
  m = min(min(feats1.shape[0], feats2.shape[0]), max_subset_size)
  t = 0
  for _subset_idx in range(num_subsets):
    x = feats2[np.random.choice(feats2.shape[0], m, replace=False)]
    y = feats1[np.random.choice(feats1.shape[0], m, replace=False)]
    a = (x @ x.T / n + 1) ** 3 + (y @ y.T / n + 1) ** 3
    b = (x @ y.T / n + 1) ** 3
    t += (a.sum() - np.diag(a).sum()) / (m - 1) - b.sum() * 2 / m
  kid = t / num_subsets / m
  return float(kid)


def seeded_clean_fid(seed, *args, **kwargs):
  """clean-fid's function after `np.random.seed(seed)`, leaving the global state as it was."""
  state = np.random.get_state()
  try:
    np.random.seed(seed)
    return clean_fid_kernel_distance(*args, **kwargs)
  finally:
    np.random.set_state(state)


# Relative: the same float64 products summed in another order (about 1e-15 measured); KID
# is a difference of kernel means larger than itself, which amplifies the rounding.
RTOL = 1e-9


@pytest.mark.parametrize("num_real, num_fake, dim, subsets, subset_size", [
    (300, 250, 16, 100, 1000),  # clean-fid's defaults; m = 250, the smaller side
    (400, 500, 64, 20, 120),  # m = the subset size
])
def test_matches_clean_fids_kernel_distance(num_real, num_fake, dim, subsets, subset_size):
  rng = np.random.default_rng()
  real = rng.normal(size=(num_real, dim))
  fake = 0.9 * rng.normal(size=(num_fake, dim)) + 0.2
  seed = int(rng.integers(1 << 31))
  got = kernel_inception_distance(real, fake, num_subsets=subsets, max_subset_size=subset_size,
                                  seed=seed)
  want = seeded_clean_fid(seed, real, fake, subsets, subset_size)
  assert got == pytest.approx(want, rel=RTOL)
  # The draws matter (the estimate moves with the subsets): another seed, another value.
  other = seeded_clean_fid(seed + 1, real, fake, subsets, subset_size)
  assert abs(other - want) > 1e3 * RTOL * abs(want)


def test_whole_sets_give_the_unbiased_mmd_written_out():
  """With every feature in each subset the draws only permute rows, so KID is the unbiased
  MMD^2 of the two sets, whatever the seed."""
  rng = np.random.default_rng()
  real, fake = rng.normal(size=(9, 3)), rng.normal(size=(9, 3)) + 0.5
  kernel = lambda a, b: (np.dot(a, b) / 3 + 1) ** 3
  m = len(real)
  within = sum(kernel(s[i], s[j]) for s in (real, fake)
               for i, j in itertools.permutations(range(m), 2)) / (m * (m - 1))
  cross = sum(kernel(x, y) for x in fake for y in real) / m**2
  got = kernel_inception_distance(real, fake, num_subsets=3, seed=int(rng.integers(1 << 31)))
  assert got == pytest.approx(within - 2 * cross, rel=RTOL)


def test_bad_shapes_are_one_message():
  with pytest.raises(ValueError, match="at least 2 features on each side, got 1 real"):
    kernel_inception_distance(np.zeros((1, 4)), np.zeros((5, 4)))
  with pytest.raises(ValueError, match="features of one dimension"):
    kernel_inception_distance(np.zeros((5, 4)), np.zeros((5, 3)))
