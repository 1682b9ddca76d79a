"""Streaming statistics and the `.npz` layouts."""

import numpy as np

from an_flax.metrics.statistics import (
    Statistics,
    StatsAccumulator,
    compute_class_statistics,
    compute_statistics,
    load_class_statistics,
    load_statistics,
    save_class_statistics,
    save_statistics,
)

BATCH_SIZES = (1, 7, 30, 2, 0, 60)


def random_features(n=100, d=16, seed=0):
  rng = np.random.default_rng(seed)
  # A large common offset makes a naive sum-of-squares covariance lose precision.
  return (rng.normal(size=(n, d)) @ rng.normal(size=(d, d)) + 100.0).astype(np.float32)


def split(x, sizes=BATCH_SIZES):
  return np.split(x, np.cumsum(sizes)[:-1])


def test_accumulator_equals_numpy_mean_and_cov():
  x = random_features()
  acc = StatsAccumulator()
  for batch in split(x):
    acc.update(batch)
  mu, sigma = acc.statistics()
  assert acc.count == len(x)
  np.testing.assert_allclose(mu, np.mean(x.astype(np.float64), axis=0), rtol=1e-13)
  np.testing.assert_allclose(sigma, np.cov(x.astype(np.float64), rowvar=False),
                             rtol=1e-10, atol=1e-12)
  assert mu.dtype == sigma.dtype == np.float64


def fake_extract(images):
  """Treats each 'image' as its own feature vector; logits are a fixed function of it."""
  images = np.asarray(images, np.float32)
  return images, images[:, :4] * 2


def test_compute_statistics_streams_batches_and_keeps_logits():
  x = random_features()
  stats, logits = compute_statistics(iter(split(x)), fake_extract, keep_logits=True)
  np.testing.assert_allclose(stats.sigma, np.cov(x, rowvar=False), rtol=1e-10, atol=1e-12)
  np.testing.assert_array_equal(logits, x[:, :4] * 2)
  assert compute_statistics(split(x), fake_extract)[1] is None


def test_statistics_npz_is_pytorch_fid_layout(tmp_path):
  stats = Statistics(np.arange(3.0), np.eye(3) * 2)
  path = tmp_path / "stats.npz"
  save_statistics(path, stats)
  with np.load(path) as f:  # What pytorch-fid reads.
    assert sorted(f.files) == ["mu", "sigma"]
    np.testing.assert_array_equal(f["mu"], stats.mu)
    np.testing.assert_array_equal(f["sigma"], stats.sigma)
  # And a file written the way pytorch-fid writes it.
  np.savez_compressed(tmp_path / "theirs.npz", mu=stats.mu, sigma=stats.sigma)
  loaded = load_statistics(tmp_path / "theirs.npz")
  np.testing.assert_array_equal(loaded.mu, stats.mu)
  np.testing.assert_array_equal(loaded.sigma, stats.sigma)


def test_class_statistics_per_class_and_round_trip(tmp_path):
  x = random_features(n=120)
  labels = np.random.default_rng(1).integers(0, 3, len(x)) * 5  # Labels 0, 5, 10.
  batches = zip(split(x, (50, 20, 50)), split(labels, (50, 20, 50)))
  stats = compute_class_statistics(batches, fake_extract)
  assert sorted(stats) == [0, 5, 10]
  for label, s in stats.items():
    np.testing.assert_allclose(s.sigma, np.cov(x[labels == label], rowvar=False),
                               rtol=1e-10, atol=1e-12)

  path = tmp_path / "class_stats.npz"
  save_class_statistics(path, stats)
  with np.load(path) as f:
    assert sorted(f.files) == ["mu_0", "mu_10", "mu_5", "sigma_0", "sigma_10", "sigma_5"]
  loaded = load_class_statistics(path)
  assert list(loaded) == [0, 5, 10] and len(loaded) == 3 and 5 in loaded and 1 not in loaded
  np.testing.assert_array_equal(loaded[10].sigma, stats[10].sigma)
  np.testing.assert_array_equal(loaded[0].mu, stats[0].mu)
