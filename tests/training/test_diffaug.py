"""DiffAugment against a transcription of StudioGAN's `diffaug.py` given the same draws."""

import jax
import numpy as np
import pytest
import torch

from an_flax.training import diffaug
from benchmarks.pytorch import diffaug as reference

TOLERANCE = 1e-6  # max |difference|, images in [-1, 1] (float32 on both sides)
POLICIES = ["color", "translation", "cutout", "color,translation,cutout",
            "cutout,translation"]
SHAPES = [(4, 32, 32, 3), (3, 15, 17, 3), (2, 8, 6, 1)]  # even, odd, small and non-square


def _torch_draws(draws):
  return {name: torch.from_numpy(np.array(value)) for name, value in draws.items()}


def _nchw(x):
  return torch.from_numpy(np.ascontiguousarray(np.asarray(x).transpose(0, 3, 1, 2)))


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s[1:3])))
@pytest.mark.parametrize("policy", POLICIES)
def test_augment_is_studiogans_for_the_same_draws(policy, shape):
  rng = np.random.default_rng()
  images = np.tanh(rng.standard_normal(shape)).astype(np.float32)
  draws = diffaug.sample_draws(jax.random.key(int(rng.integers(1 << 31))), shape, policy)
  ours = np.asarray(jax.jit(diffaug.augment, static_argnames="policy")(images, draws, policy))
  theirs = reference.apply_diffaug(_nchw(images), _torch_draws(draws), policy)
  diff = np.abs(ours - theirs.numpy().transpose(0, 2, 3, 1)).max()
  print(f"{policy} {shape}: max |diff| {diff:.1e}")
  assert diff <= TOLERANCE
  assert np.abs(ours - images).max() > 0.1  # the augmentation did something


def test_gradient_is_studiogans():
  """G's update differentiates through the augmentation of its images."""
  rng = np.random.default_rng()
  shape = (3, 15, 16, 3)
  images = np.tanh(rng.standard_normal(shape)).astype(np.float32)
  weights = rng.standard_normal(shape).astype(np.float32)
  draws = diffaug.sample_draws(jax.random.key(int(rng.integers(1 << 31))), shape)
  ours = jax.grad(lambda x: (diffaug.augment(x, draws) * weights).sum())(images)
  x = _nchw(images).requires_grad_(True)
  (reference.apply_diffaug(x, _torch_draws(draws)) * _nchw(weights)).sum().backward()
  np.testing.assert_allclose(ours, x.grad.numpy().transpose(0, 2, 3, 1), atol=1e-5)


@pytest.mark.parametrize("height, width", [(32, 32), (15, 17), (128, 128)])
def test_draws_cover_the_ranges_of_studiogans_randint_calls(height, width):
  """`torch.randint(-shift, shift + 1)` for translation and `torch.randint(0, size + (1 -
  cutout % 2))` for the cutout offset, shift = int(size * 0.125 + 0.5) and cutout =
  int(size * 0.5 + 0.5) (StudioGAN's rand_translation / rand_cutout): every value of
  those ranges and no other; colour factors in [0, 1)."""
  draws = jax.device_get(diffaug.sample_draws(jax.random.key(0), (4000, height, width, 3)))
  for axis, size in enumerate((height, width)):
    shift, cutout = int(size * 0.125 + 0.5), int(size * 0.5 + 0.5)
    assert set(draws["translation"][:, axis]) == set(range(-shift, shift + 1))
    assert set(draws["cutout"][:, axis]) == set(range(0, size + (1 - cutout % 2)))
  for name in ("brightness", "saturation", "contrast"):
    assert 0.0 <= draws[name].min() < 0.01 and 0.99 < draws[name].max() < 1.0
  assert not np.array_equal(draws["brightness"], draws["saturation"])


def test_an_unknown_policy_is_named():
  with pytest.raises(ValueError, match=r"Unknown DiffAugment policy 'flip' in "
                                       r"'color,flip': use a comma-separated list of color"):
    diffaug.sample_draws(jax.random.key(0), (1, 8, 8, 3), "color,flip")
