"""FID, intra-FID and Inception Score against analytic cases and direct formulas."""

import numpy as np
import pytest
import scipy.linalg

from an_flax.metrics import scores
from an_flax.metrics.scores import frechet_distance, inception_score, intra_fid
from an_flax.metrics.statistics import Statistics


def random_stats(d, seed):
  rng = np.random.default_rng(seed)
  a = rng.normal(size=(d, 2 * d))
  return Statistics(rng.normal(size=d), a @ a.T / (2 * d) + 0.1 * np.eye(d))


def direct_fid(mu1, sigma1, mu2, sigma2):
  """Via the symmetric form Tr sqrt(S1^1/2 S2 S1^1/2) and eigendecompositions only."""
  w, v = np.linalg.eigh(sigma1)
  root1 = (v * np.sqrt(w)) @ v.T
  inner = np.linalg.eigvalsh(root1 @ sigma2 @ root1)
  diff = mu1 - mu2
  return diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2 * np.sqrt(inner.clip(0)).sum()


def test_equal_covariances_give_squared_mean_distance():
  (mu1, sigma), (mu2, _) = random_stats(16, 0), random_stats(16, 1)
  assert frechet_distance(mu1, sigma, mu2, sigma) == pytest.approx(
      np.sum((mu1 - mu2) ** 2), rel=1e-8)


def test_fid_of_identical_statistics_is_zero():
  mu, sigma = random_stats(64, 2)
  assert abs(frechet_distance(mu, sigma, mu, sigma)) < 1e-8 * np.trace(sigma)


def test_fid_matches_direct_float64_formula():
  a, b = random_stats(32, 3), random_stats(32, 4)
  assert frechet_distance(*a, *b) == pytest.approx(direct_fid(*a, *b), rel=1e-9)


def test_eps_offset_only_when_product_root_is_not_finite(monkeypatch):
  calls = []
  real_sqrtm = scipy.linalg.sqrtm

  def sqrtm(m):
    calls.append(m)
    return np.full_like(m, np.nan) if len(calls) == 1 else real_sqrtm(m)

  monkeypatch.setattr(scores.scipy.linalg, "sqrtm", sqrtm)
  (mu1, s1), (mu2, s2) = random_stats(8, 5), random_stats(8, 6)
  fid = frechet_distance(mu1, s1, mu2, s2, eps=1e-3)
  offset = 1e-3 * np.eye(8)
  np.testing.assert_allclose(calls[1], (s1 + offset) @ (s2 + offset))
  assert fid == pytest.approx(direct_fid(mu1, s1 + offset, mu2, s2 + offset) - 2 * 8e-3, rel=1e-9)

  calls.clear()
  monkeypatch.setattr(scores.scipy.linalg, "sqrtm", lambda m: (calls.append(m), real_sqrtm(m))[1])
  frechet_distance(mu1, s1, mu2, s2)
  assert len(calls) == 1


@pytest.mark.parametrize("imag,ok", [(5e-4, True), (5e-3, False)])
def test_imaginary_part_tolerance_is_pytorch_fids(monkeypatch, imag, ok):
  (mu1, s1), (mu2, s2) = random_stats(8, 7), random_stats(8, 8)
  root = scipy.linalg.sqrtm(s1 @ s2)
  monkeypatch.setattr(scores.scipy.linalg, "sqrtm", lambda m: root + 1j * imag * np.eye(8))
  if ok:
    assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(direct_fid(mu1, s1, mu2, s2))
  else:
    with pytest.raises(ValueError, match="Imaginary component"):
      frechet_distance(mu1, s1, mu2, s2)


def test_inception_score_of_constant_predictions_is_one():
  logits = np.tile(np.random.default_rng(0).normal(size=1008), (100, 1))
  mean, std = inception_score(logits)
  assert mean == pytest.approx(1.0, abs=1e-12) and std == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("k", [1, 7, 100])
def test_inception_score_of_confident_uniform_predictions_is_k(k):
  labels = np.tile(np.arange(k), 10 * 3)  # Each of the 10 splits holds every class 3 times.
  logits = np.zeros((len(labels), 1008))
  logits[np.arange(len(labels)), labels] = 1e4  # Softmax is exactly one-hot in float64.
  mean, std = inception_score(logits, splits=10)
  assert mean == pytest.approx(k, rel=1e-12) and std == pytest.approx(0.0, abs=1e-9)


@pytest.mark.parametrize("splits", [1, 4])  # StudioGAN's protocol takes 1 split.
def test_inception_score_matches_openai_formula(splits):
  logits = np.random.default_rng().normal(scale=3, size=(103, 1008))
  preds = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
  split_scores = []
  for i in range(splits):  # OpenAI's improved-GAN code, with its split boundaries.
    part = preds[i * 103 // splits:(i + 1) * 103 // splits]
    kl = part * (np.log(part) - np.log(np.expand_dims(np.mean(part, 0), 0)))
    split_scores.append(np.exp(np.mean(np.sum(kl, 1))))
  mean, std = inception_score(logits, splits=splits)
  assert mean == pytest.approx(np.mean(split_scores), rel=1e-12)
  assert std == pytest.approx(np.std(split_scores), rel=1e-9)


def test_intra_fid_averages_per_class_fids():
  generated = {c: random_stats(8, 10 + c) for c in (0, 3, 9)}
  reference = {c: random_stats(8, 20 + c) for c in (0, 3, 9, 11)}  # Extra classes are fine.
  mean, per_class = intra_fid(generated, reference)
  expected = {c: direct_fid(*generated[c], *reference[c]) for c in generated}
  assert per_class.keys() == expected.keys()
  for c in expected:
    assert per_class[c] == pytest.approx(expected[c], rel=1e-9)
  assert mean == pytest.approx(np.mean(list(expected.values())), rel=1e-9)

  with pytest.raises(KeyError, match=r"\[11\]"):
    intra_fid({11: generated[0]}, {0: reference[0]})


def test_class_accuracy_counts_argmax_hits_per_generated_class():
  rng = np.random.default_rng()
  labels = rng.integers(0, 5, size=200)
  logits = rng.normal(size=(200, 5))
  logits[np.arange(200), labels] += rng.choice([0.0, 10.0], size=200, p=[0.4, 0.6])
  overall, per_class = scores.class_accuracy(logits, labels)
  hits = [np.argmax(row) == label for row, label in zip(logits, labels)]
  assert overall == pytest.approx(np.mean(hits), abs=0)
  assert sorted(per_class) == sorted(set(labels.tolist()))
  for label, accuracy in per_class.items():
    assert accuracy == np.mean([h for h, l in zip(hits, labels) if l == label])
  assert 0.5 < overall < 1  # the boosted 60% and some lucky others
