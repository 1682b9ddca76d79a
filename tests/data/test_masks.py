"""Mask generators: convention (1 = hole), sizes, bounds, determinism."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from an_flax.data import masks


def _boxes(mask):
  """(top, left, bottom, right) of each example's hole, exclusive ends."""
  out = []
  for m in np.asarray(mask[..., 0]):
    rows, cols = np.nonzero(m)
    out.append((rows.min(), cols.min(), rows.max() + 1, cols.max() + 1))
  return np.array(out)


def test_random_rectangles_sizes_bounds_and_convention():
  size = (256, 256)
  mask, corners = masks.random_rectangles(jax.random.PRNGKey(0), 64, size)
  assert mask.shape == (64, 256, 256, 1) and mask.dtype == jnp.float32
  assert set(np.unique(np.asarray(mask))) == {0.0, 1.0}
  boxes, corners = _boxes(mask), np.asarray(corners)
  heights, widths = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
  # 128 box minus 0..16 px on each side; the hole is a full rectangle.
  assert heights.min() >= 96 and heights.max() <= 128 and widths.min() >= 96 and widths.max() <= 128
  np.testing.assert_array_equal(np.asarray(mask).sum((1, 2, 3)), heights * widths)
  assert (boxes[:, :2] >= corners).all() and (boxes[:, :2] <= corners + 16).all()
  assert (boxes[:, 2:] <= corners + 128).all() and (boxes[:, 2:] >= corners + 112).all()
  assert (corners >= 0).all() and (corners + 128 <= 256).all()
  assert len(set(map(tuple, corners))) > 32  # positions vary per example
  assert len(set(heights)) > 5 and len(set(widths)) > 5  # and so do the shrinks


def test_random_rectangles_are_deterministic_and_scale_with_the_image():
  a = masks.random_rectangles(jax.random.PRNGKey(3), 4, (64, 64))
  b = masks.random_rectangles(jax.random.PRNGKey(3), 4, (64, 64))
  c = masks.random_rectangles(jax.random.PRNGKey(4), 4, (64, 64))
  for x, y in zip(a, b):
    np.testing.assert_array_equal(np.asarray(x), np.asarray(y))
  assert not np.array_equal(np.asarray(a[0]), np.asarray(c[0]))
  heights = _boxes(a[0])[:, 2] - _boxes(a[0])[:, 0]
  assert (heights >= 32 - 2 * 4).all() and (heights <= 32).all()  # 64 / 2, shrink <= 64 / 16


def test_centered_rectangles():
  mask, corners = masks.centered_rectangles(3, (256, 192))
  np.testing.assert_array_equal(np.asarray(corners), [[64, 48]] * 3)
  np.testing.assert_array_equal(_boxes(mask), [[64, 48, 192, 144]] * 3)
  assert float(mask.sum()) == 3 * 128 * 96


def test_crop_patches_follow_the_corners():
  images = jnp.arange(2 * 8 * 8 * 1, dtype=jnp.float32).reshape(2, 8, 8, 1)
  patches = masks.crop_patches(images, jnp.array([[0, 1], [4, 3]]), (4, 5))
  np.testing.assert_array_equal(np.asarray(patches[0]), np.asarray(images[0, 0:4, 1:6]))
  np.testing.assert_array_equal(np.asarray(patches[1]), np.asarray(images[1, 4:8, 3:8]))


def test_free_form_strokes():
  draw = jax.jit(lambda key: masks.free_form(key, 8, (64, 64)))
  mask, again, other = draw(jax.random.PRNGKey(0)), draw(jax.random.PRNGKey(0)), draw(jax.random.PRNGKey(1))
  assert mask.shape == (8, 64, 64, 1) and mask.dtype == jnp.float32
  assert set(np.unique(np.asarray(mask))) <= {0.0, 1.0}
  np.testing.assert_array_equal(np.asarray(mask), np.asarray(again))
  assert not np.array_equal(np.asarray(mask), np.asarray(other))
  fraction = np.asarray(mask).mean((1, 2, 3))
  assert (fraction > 0.0).all() and (fraction < 0.9).all()
  assert not np.array_equal(np.asarray(mask[0]), np.asarray(mask[1]))


def test_a_single_straight_stroke_is_a_capsule():
  starts, ends = jnp.array([[10.0, 10.0]]), jnp.array([[10.0, 30.0]])
  canvas = np.asarray(masks._draw_segments((32, 40), starts, ends, jnp.array([6.0]),
                                           jnp.array([True])))
  rows, cols = np.nonzero(canvas)
  assert rows.min() == 7 and rows.max() == 13 and cols.min() == 7 and cols.max() == 33
  assert canvas[10, 20] == 1 and canvas[14, 20] == 0


def test_unknown_kinds_and_impossible_sizes():
  with pytest.raises(ValueError, match="mask kind"):
    masks.sample_training_masks(jax.random.PRNGKey(0), 1, (32, 32), "circle")
  with pytest.raises(ValueError, match="fit"):
    masks.random_rectangles(jax.random.PRNGKey(0), 1, (32, 32), hole_size=(40, 8))
