"""Mirror / tile consistency errors against a transcription with explicit index maps."""

import numpy as np
import pytest

from an_flax.metrics import consistency_errors, mean_by_layout

LAYOUTS = ("mirror", "tile", "mirror")  # of classes 0, 1, 2


def _reference(image: np.ndarray, layout: str) -> float:
  """mirror: pixel (i, j) against (i, W-1-j) for j < W/2; tile: against the image rolled
  by half its height and, separately, half its width, averaged (float64)."""
  x = image.astype(np.float64)
  h, w = x.shape[:2]
  if layout == "mirror":
    return float(np.mean([np.abs(x[i, j] - x[i, w - 1 - j]).mean()
                          for i in range(h) for j in range(w // 2)]))
  vertical = np.abs(x - np.roll(x, h // 2, axis=0)).mean()
  horizontal = np.abs(x - np.roll(x, w // 2, axis=1)).mean()
  return float((vertical + horizontal) / 2)


def test_errors_match_the_definition_on_random_images():
  rng = np.random.default_rng()
  images = rng.integers(0, 256, size=(12, 8, 10, 3), dtype=np.uint8)
  labels = rng.integers(0, 3, size=12)
  errors = consistency_errors(images, labels, LAYOUTS)
  want = [_reference(image, LAYOUTS[label]) for image, label in zip(images, labels)]
  np.testing.assert_allclose(errors, want, rtol=1e-12)  # float64 sums in another order


def test_exact_repeats_score_zero_only_for_their_own_layout():
  rng = np.random.default_rng()
  half = rng.integers(0, 256, size=(16, 8, 3), dtype=np.uint8)
  mirrored = np.concatenate([half, half[:, ::-1]], axis=1)
  tiled = np.tile(rng.integers(0, 256, size=(8, 8, 3), dtype=np.uint8), (2, 2, 1))
  images = np.stack([mirrored, tiled, mirrored, tiled])
  errors = consistency_errors(images, [0, 1, 1, 0], LAYOUTS)
  assert errors[0] == errors[1] == 0.0
  assert errors[2] > 10 and errors[3] > 10  # random halves differ by ~85 levels


def test_a_constant_offset_is_the_error_in_levels():
  image = np.full((4, 4, 3), 10, np.uint8)
  image[:, 2:] = 30  # right half 20 levels brighter
  errors = consistency_errors(np.stack([image, image]), [0, 1], LAYOUTS)
  # mirror: every pair differs by 20; tile: the vertical shift matches, the horizontal 20.
  np.testing.assert_array_equal(errors, [20.0, 10.0])


def test_means_by_layout():
  errors, labels = np.array([1.0, 2.0, 4.0, 8.0]), np.array([0, 1, 2, 1])
  assert mean_by_layout(errors, labels, LAYOUTS) == {
      "all": 3.75, "mirror": 2.5, "tile": 5.0}
  assert mean_by_layout(errors[:1], labels[:1], LAYOUTS) == {"all": 1.0, "mirror": 1.0}


def test_inputs_are_checked():
  with pytest.raises(ValueError, match="uint8"):
    consistency_errors(np.zeros((1, 4, 4, 3), np.float32), [0], LAYOUTS)
  with pytest.raises(ValueError, match="even height and width"):
    consistency_errors(np.zeros((1, 5, 4, 3), np.uint8), [0], LAYOUTS)
  with pytest.raises(ValueError, match="Unknown layouts"):
    consistency_errors(np.zeros((1, 4, 4, 3), np.uint8), [0], ("stripes",))
