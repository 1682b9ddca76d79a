"""DiffAugment (Zhao et al., 2020) as StudioGAN applies it: colour, translation, cutout.

The functions of StudioGAN's `src/utils/diffaug.py` (MIT-Han-Lab's DiffAugment) on NHWC
images in [-1, 1], differentiable in the images, with the random numbers drawn apart from
their use: `sample_draws(key, shape, policy)` draws them and `augment(images, draws,
policy)` applies them, so a test can give PyTorch's code the same numbers.
`diff_augment(images, key)` is both. Per example, in `policy` order:

  color        brightness x + (b - 0.5); saturation (x - m_c)(2 s) + m_c, m_c the mean over
               channels; contrast (x - m)(c + 0.5) + m, m the mean over pixels and
               channels; b, s, c ~ U[0, 1).
  translation  shifts by t ~ U{-r, ..., r} pixels per axis, r = int(size / 8 + 0.5),
               filling with zeros.
  cutout       zeroes a box of int(size / 2 + 0.5) pixels per axis, clipped to the image,
               its centre offset ~ U{0, ..., size - (box size odd)}.

Written by hand: no JAX library ships DiffAugment, and only this form gives StudioGAN's
draws their meaning (the translation's clamped zero padding, the cutout's box).
"""

from typing import Dict, Sequence, Tuple

import jax
import jax.numpy as jnp

POLICIES = ("color", "translation", "cutout")
DEFAULT_POLICY = "color,translation,cutout"  # StudioGAN's `apply_diffaug` default
Draws = Dict[str, jax.Array]


def parse_policy(policy: str) -> Tuple[str, ...]:
  """StudioGAN's comma-separated policy as a tuple; an unknown name is a ValueError."""
  names = tuple(name for name in policy.split(",") if name)
  unknown = [name for name in names if name not in POLICIES]
  if unknown:
    raise ValueError(f"Unknown DiffAugment policy {unknown[0]!r} in {policy!r}: use a "
                     f"comma-separated list of {', '.join(POLICIES)}.")
  return names


def translation_range(size: int) -> int:
  """The largest shift along an axis of `size` pixels (ratio 1/8, rounded half up)."""
  return int(size * 0.125 + 0.5)


def cutout_size(size: int) -> int:
  """The cutout box's side along an axis of `size` pixels (ratio 1/2, rounded half up)."""
  return int(size * 0.5 + 0.5)


def sample_draws(key: jax.Array, shape: Sequence[int], policy: str = DEFAULT_POLICY) -> Draws:
  """The random numbers `augment` needs for images of `shape` (N, H, W, C).

  'brightness', 'saturation', 'contrast' (N,) in [0, 1); 'translation' (N, 2) int32 shifts
  (rows, columns); 'cutout' (N, 2) int32 box-centre offsets (rows, columns).
  """
  n, height, width = shape[0], shape[1], shape[2]
  draws = {}
  for name in parse_policy(policy):
    key, *keys = jax.random.split(key, 4)
    if name == "color":
      for part, part_key in zip(("brightness", "saturation", "contrast"), keys):
        draws[part] = jax.random.uniform(part_key, (n,), jnp.float32)
    elif name == "translation":
      draws[name] = jnp.stack([
          jax.random.randint(k, (n,), -translation_range(size), translation_range(size) + 1)
          for k, size in zip(keys, (height, width))], axis=1)
    else:
      draws[name] = jnp.stack([
          jax.random.randint(k, (n,), 0, size + 1 - cutout_size(size) % 2)
          for k, size in zip(keys, (height, width))], axis=1)
  return draws


def _per_example(values: jax.Array) -> jax.Array:
  return values.astype(jnp.float32)[:, None, None, None]


def _color(x: jax.Array, draws: Draws) -> jax.Array:
  x = x + (_per_example(draws["brightness"]) - 0.5)
  mean = jnp.mean(x, axis=3, keepdims=True)
  x = (x - mean) * (_per_example(draws["saturation"]) * 2) + mean
  mean = jnp.mean(x, axis=(1, 2, 3), keepdims=True)
  return (x - mean) * (_per_example(draws["contrast"]) + 0.5) + mean


def _shift(x: jax.Array, shift: jax.Array, axis: int) -> jax.Array:
  """out[i] = x[i + shift] along `axis` (per example), 0 where i + shift leaves the image."""
  size = x.shape[axis]
  source = jnp.arange(size)[None, :] + shift[:, None]  # (N, size)
  inside = (source >= 0) & (source < size)
  index_shape = [x.shape[0], 1, 1, 1]
  index_shape[axis] = size
  gathered = jnp.take_along_axis(
      x, jnp.clip(source, 0, size - 1).reshape(index_shape), axis=axis)
  return gathered * inside.reshape(index_shape).astype(x.dtype)


def _translation(x: jax.Array, shifts: jax.Array) -> jax.Array:
  return _shift(_shift(x, shifts[:, 0], axis=1), shifts[:, 1], axis=2)


def _cutout(x: jax.Array, offsets: jax.Array) -> jax.Array:
  inside = []
  for axis, offset in ((1, offsets[:, 0]), (2, offsets[:, 1])):
    size = x.shape[axis]
    start = offset - cutout_size(size) // 2
    position = jnp.arange(size)[None, :]
    inside.append((position >= start[:, None]) & (position < (start + cutout_size(size))[:, None]))
  box = inside[0][:, :, None] & inside[1][:, None, :]  # (N, H, W)
  return x * (~box)[..., None].astype(x.dtype)


def augment(images: jax.Array, draws: Draws, policy: str = DEFAULT_POLICY) -> jax.Array:
  """`images` (N, H, W, C) augmented with `draws` (from `sample_draws`) in `policy` order."""
  apply = {"color": lambda x: _color(x, draws),
           "translation": lambda x: _translation(x, draws["translation"]),
           "cutout": lambda x: _cutout(x, draws["cutout"])}
  for name in parse_policy(policy):
    images = apply[name](images)
  return images


def diff_augment(images: jax.Array, key: jax.Array, policy: str = DEFAULT_POLICY
                 ) -> jax.Array:
  """`images` augmented with fresh draws from `key`: StudioGAN's `apply_diffaug`."""
  return augment(images, sample_draws(key, images.shape, policy), policy)
