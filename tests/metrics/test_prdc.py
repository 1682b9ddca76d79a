"""Precision, recall, density and coverage against a brute-force transcription of the
papers' definitions (Kynkaanniemi et al. 2019, eqs. 1-2; Naeem et al. 2020, eqs. 3-4) and
against StudioGAN's `compute_prdc` transcribed in numpy."""

import numpy as np
import pytest

from an_flax.metrics import precision_recall_density_coverage
from an_flax.metrics.prdc import STUDIOGAN_K, NearestK, nearest_neighbour_radii


def _reference(real: np.ndarray, fake: np.ndarray, k_pr: int, k_dc: int) -> dict:
  """The definitions with every pairwise distance written out, float64."""
  dist = lambda a, b: np.sqrt(((a[:, None, :] - b[None, :, :]) ** 2).sum(-1))
  def radii(x, k):  # distance to the k-th nearest *other* point
    d = dist(x, x)
    return np.array([np.sort(np.delete(d[i], i))[k - 1] for i in range(len(x))])
  d_rf = dist(real, fake)  # (N, M)
  r_pr, r_dc, f_pr = radii(real, k_pr), radii(real, k_dc), radii(fake, k_pr)
  precision = np.mean([any(d_rf[i, j] <= r_pr[i] for i in range(len(real)))
                       for j in range(len(fake))])
  recall = np.mean([any(d_rf[i, j] <= f_pr[j] for j in range(len(fake)))
                    for i in range(len(real))])
  density = sum((d_rf[:, j] <= r_dc).sum() for j in range(len(fake))) / (k_dc * len(fake))
  coverage = np.mean([d_rf[i].min() <= r_dc[i] for i in range(len(real))])
  return {"precision": precision, "recall": recall, "density": density, "coverage": coverage}


# Shapes cross the 1024-row block of the implementation; fresh inputs per case.
@pytest.mark.parametrize("num_real, num_fake, dim, k_pr, k_dc", [
    (60, 45, 3, 3, 5), (1030, 70, 4, 3, 5), (80, 200, 16, 2, 7)])
def test_matches_the_definitions_on_random_features(num_real, num_fake, dim, k_pr, k_dc):
  rng = np.random.default_rng()
  # Overlapping clouds, plus two far outliers on each side: a fake outlier lies in no real
  # point's ball and a real outlier in no fake point's, so precision and recall are strictly
  # between 0 and 1 whatever the draw.
  real = rng.normal(size=(num_real, dim))
  fake = 0.7 * rng.normal(size=(num_fake, dim)) + 0.5
  real[:2] -= 30.0
  fake[:2] += 30.0
  got = precision_recall_density_coverage(real, fake, NearestK(k_pr, k_dc))
  want = _reference(real, fake, k_pr, k_dc)
  # Fractions of counts: equal exactly, since continuous inputs have no distance ties
  # (where '<' of the implementation and '<=' of the papers would differ).
  assert got.keys() == want.keys()
  for name in got:
    assert got[name] == pytest.approx(want[name], abs=1e-12), name
  assert 0 < got["precision"] < 1 and 0 < got["recall"] < 1


def _studiogan_prdc(real_features: np.ndarray, fake_features: np.ndarray, nearest_k: int) -> dict:
  """StudioGAN's `src/metrics/prdc.py` `compute_prdc` (PyTorch-StudioGAN at 947b35e9), line
  for line, with sklearn's `pairwise_distances(metric='euclidean')` written out as sklearn's
  `euclidean_distances` computes it for float64 rows (sklearn is not a dependency)."""
  def compute_pairwise_distance(data_x, data_y=None):
    data_y = data_x if data_y is None else data_y
    distances = -2 * data_x @ data_y.T
    distances += (data_x * data_x).sum(axis=1)[:, None]
    distances += (data_y * data_y).sum(axis=1)[None, :]
    return np.sqrt(np.maximum(distances, 0))

  def get_kth_value(unsorted, k, axis=-1):
    indices = np.argpartition(unsorted, k, axis=axis)[..., :k]
    k_smallests = np.take_along_axis(unsorted, indices, axis=axis)
    return k_smallests.max(axis=axis)

  def compute_nearest_neighbour_distances(input_features, nearest_k):
    return get_kth_value(compute_pairwise_distance(input_features), k=nearest_k + 1, axis=-1)

  real_nearest_neighbour_distances = compute_nearest_neighbour_distances(real_features, nearest_k)
  fake_nearest_neighbour_distances = compute_nearest_neighbour_distances(fake_features, nearest_k)
  distance_real_fake = compute_pairwise_distance(real_features, fake_features)
  precision = (distance_real_fake < np.expand_dims(real_nearest_neighbour_distances, axis=1)
               ).any(axis=0).mean()
  recall = (distance_real_fake < np.expand_dims(fake_nearest_neighbour_distances, axis=0)
            ).any(axis=1).mean()
  density = (1. / float(nearest_k)) * (
      distance_real_fake < np.expand_dims(real_nearest_neighbour_distances, axis=1)
  ).sum(axis=0).mean()
  coverage = (distance_real_fake.min(axis=1) < real_nearest_neighbour_distances).mean()
  return dict(precision=precision, recall=recall, density=density, coverage=coverage)


# StudioGAN's protocol: one k = 5 and as many fake as real features (plus other counts);
# 1100 crosses the 1024-row block on both sides.
@pytest.mark.parametrize("num_real, num_fake, dim", [(200, 200, 16), (1100, 1100, 8),
                                                     (90, 130, 12)])
def test_matches_studiogans_compute_prdc_with_one_k(num_real, num_fake, dim):
  rng = np.random.default_rng()
  real = rng.normal(size=(num_real, dim))
  fake = 0.8 * rng.normal(size=(num_fake, dim)) + 0.3
  real[:2] -= 30.0
  fake[:2] += 30.0
  got = precision_recall_density_coverage(real, fake, nearest_k=5)
  assert got == precision_recall_density_coverage(real, fake, STUDIOGAN_K)
  want = _studiogan_prdc(real, fake, nearest_k=5)
  assert got.keys() == want.keys()
  for name in got:  # Counts over the same distances: equal but for the order of the sums.
    assert got[name] == pytest.approx(want[name], abs=1e-12), name
  assert 0 < got["precision"] < 1 and 0 < got["recall"] < 1


def test_identical_sets_are_fully_precise_recalled_and_covered():
  """Integer features below 2^20 make |a|^2 + |b|^2 - 2 a.b exact, so a copy of a ball's
  k-th neighbour lies exactly on its boundary (with rounded distances it falls either side,
  in StudioGAN's arithmetic as in ours)."""
  features = np.random.default_rng().integers(-2**20, 2**20, size=(50, 8)).astype(np.float64)
  scores = precision_recall_density_coverage(features, features.copy())
  assert scores["precision"] == scores["recall"] == scores["coverage"] == 1.0
  # With strict balls each point lies in its own and in those of the points it is one of
  # the k - 1 nearest others of: k balls per point on average, density exactly 1.
  assert scores["density"] == pytest.approx(1.0, abs=1e-12)


def test_far_apart_sets_score_zero():
  rng = np.random.default_rng()
  real, fake = rng.normal(size=(40, 5)), rng.normal(size=(30, 5)) + 100.0
  assert precision_recall_density_coverage(real, fake) == {
      "precision": 0.0, "recall": 0.0, "density": 0.0, "coverage": 0.0}


def test_a_ball_excludes_its_boundary_as_studiogan():
  """Real 0, 1, 2, 3 on a line have k=1 radius 1: a fake point at distance exactly 1 of its
  nearest real point is outside (StudioGAN's strict '<')."""
  real = np.array([[0.0], [1.0], [2.0], [3.0]])
  fake = np.array([[0.5], [4.0], [5.0]])
  np.testing.assert_array_equal(nearest_neighbour_radii(real, 1), [1.0, 1.0, 1.0, 1.0])
  scores = precision_recall_density_coverage(real, fake, nearest_k=1)
  assert scores["precision"] == pytest.approx(1 / 3)
  assert scores["coverage"] == pytest.approx(2 / 4)  # 0 and 1 hold 0.5; 3 is 1 from 4


def test_radii_need_more_points_than_k():
  with pytest.raises(ValueError, match="k=5 .* more than 5 points"):
    precision_recall_density_coverage(np.zeros((5, 2)), np.ones((10, 2)))
