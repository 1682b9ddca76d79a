"""Feature files: features, float64 moments and provenance round-trip; pytorch-fid reads them
as statistics; a file from another network, weights or resize is refused."""

import dataclasses

import numpy as np
import pytest

from an_flax.metrics import load_statistics, save_statistics
from an_flax.metrics.feature_files import (
    FeatureFileError, FeatureSpace, has_features, load_features, save_features)
from an_flax.metrics.statistics import Statistics

SPACE = FeatureSpace("inception", "6726825d" + "0" * 56, "clean")
SOURCE = {"dataset": "imagenet2012", "split": "train"}


def pytorch_fid_statistics(path):
  """`pytorch_fid.fid_score.compute_statistics_of_path` for an .npz (mseitzer/pytorch-fid at
  b9c18118, version 0.3.0)."""
  with np.load(path) as f:
    m, s = f["mu"][:], f["sigma"][:]
  return m, s


@pytest.mark.parametrize("dtype, rtol", [(np.float32, 0), (np.float16, 2**-11)])
def test_round_trip_keeps_features_moments_and_provenance(tmp_path, dtype, rtol):
  features = np.random.default_rng().gamma(2.0, size=(40, 16)).astype(np.float32)
  path = tmp_path / "real_features.npz"
  save_features(path, features, SPACE, SOURCE, dtype=dtype)
  assert has_features(path)
  saved = load_features(path, SPACE)
  assert saved.features.dtype == dtype
  np.testing.assert_allclose(saved.features, features, rtol=rtol, atol=0)
  # Moments of the float32 features, whatever the stored dtype.
  x = features.astype(np.float64)
  np.testing.assert_allclose(saved.statistics.mu, x.mean(0), rtol=1e-12)
  np.testing.assert_allclose(saved.statistics.sigma, np.cov(x, rowvar=False), rtol=1e-10,
                             atol=1e-14)
  assert saved.provenance == {**dataclasses.asdict(SPACE), "source": SOURCE, "num_images": 40,
                              "dtype": np.dtype(dtype).name}
  # pytorch-fid reads the file as its statistics, and so does load_statistics.
  mu, sigma = pytorch_fid_statistics(path)
  np.testing.assert_array_equal(mu, saved.statistics.mu)
  np.testing.assert_array_equal(sigma, saved.statistics.sigma)
  np.testing.assert_array_equal(load_statistics(path).sigma, sigma)


@pytest.mark.parametrize("field, value", [("resize", "legacy"), ("network", "dinov2"),
                                          ("weights_sha256", "ab" * 32)])
def test_features_of_another_space_are_refused_naming_both(tmp_path, field, value):
  path = tmp_path / "real_features.npz"
  save_features(path, np.ones((3, 4)), SPACE, SOURCE)
  other = dataclasses.replace(SPACE, **{field: value})
  with pytest.raises(FeatureFileError) as error:
    load_features(path, other)
  message = str(error.value)
  assert f"holds features of {SPACE.describe()}; this evaluation uses {other.describe()}" in message
  assert SPACE.describe() != other.describe()


def test_statistics_alone_are_not_features(tmp_path):
  path = tmp_path / "stats.npz"
  save_statistics(path, Statistics(np.zeros(4), np.eye(4)))
  assert not has_features(path)
  with pytest.raises(FeatureFileError, match=r"holds no features .* \(keys: mu, sigma\)"):
    load_features(path, SPACE)


def test_bad_dtype_range_and_path_are_one_message(tmp_path):
  with pytest.raises(ValueError, match="float32 or float16, not float64"):
    save_features(tmp_path / "f.npz", np.ones((3, 4)), SPACE, SOURCE, dtype=np.float64)
  with pytest.raises(ValueError, match="exceed float16's range"):
    save_features(tmp_path / "f.npz", np.full((3, 4), 1e5), SPACE, SOURCE, dtype=np.float16)
  with pytest.raises(FileNotFoundError, match="Features file not found"):
    load_features(tmp_path / "missing.npz", SPACE)
  (tmp_path / "text.npz").write_text("not a zip")
  with pytest.raises(FeatureFileError, match="is not an .npz"):
    has_features(tmp_path / "text.npz")
