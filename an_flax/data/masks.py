"""Hole masks for inpainting, in pure JAX: jit-able and deterministic given a key.

One convention everywhere: a mask is float32 (N, H, W, 1) with 1 = hole and
0 = known pixel. Rectangle generators also return the top-left corner (N, 2)
of the rectangle's bounding box, whose size is static, so the local critic
can crop a fixed-size patch around each hole with `crop_patches`.

Reference settings (DeepFill v1 / the released AN code) on 256x256 images: a
128x128 box at a random position, shrunk by up to 16 px per side in
training; the centred 128x128 box at test time. Defaults scale with the
image: box = (H/2, W/2), shrink = H/16, W/16.
"""

from typing import Optional, Tuple

import jax
import jax.numpy as jnp

Size = Tuple[int, int]


def default_hole_size(image_size: Size) -> Size:
  """The bounding box of rectangular holes: half the image (128 on 256)."""
  return image_size[0] // 2, image_size[1] // 2


def default_max_shrink(image_size: Size) -> Size:
  """Largest per-side shrink of a training rectangle: 16 px on 256."""
  return image_size[0] // 16, image_size[1] // 16


def _rectangles(image_size: Size, top: jax.Array, left: jax.Array,
                bottom: jax.Array, right: jax.Array) -> jax.Array:
  """Masks (N, H, W, 1) that are 1 on rows [top, bottom) x cols [left, right)."""
  rows = jnp.arange(image_size[0])[None, :, None]
  cols = jnp.arange(image_size[1])[None, None, :]
  inside = ((rows >= top[:, None, None]) & (rows < bottom[:, None, None])
            & (cols >= left[:, None, None]) & (cols < right[:, None, None]))
  return inside[..., None].astype(jnp.float32)


def random_rectangles(
    key: jax.Array, batch_size: int, image_size: Size,
    hole_size: Optional[Size] = None, max_shrink: Optional[Size] = None,
) -> Tuple[jax.Array, jax.Array]:
  """Training holes: one random box per example, each side shrunk independently.

  The box (hole_size) lies fully inside the image; the hole is the box minus a
  random margin of 0..max_shrink pixels on each of its four sides (the
  released code draws one margin per axis for both sides and one box per
  batch). Returns (mask, corners), corners (N, 2) int32 = (top, left) of the
  box: crop `hole_size` patches there for the local critic.
  """
  hole_h, hole_w = hole_size or default_hole_size(image_size)
  shrink_h, shrink_w = max_shrink if max_shrink is not None else default_max_shrink(image_size)
  if not (0 < hole_h <= image_size[0] and 0 < hole_w <= image_size[1]):
    raise ValueError(f"hole_size {hole_size} must fit in the image {image_size}.")
  if 2 * shrink_h >= hole_h or 2 * shrink_w >= hole_w:
    raise ValueError(f"max_shrink {max_shrink} would empty a {hole_h}x{hole_w} hole.")
  k_top, k_left, k_shrink = jax.random.split(key, 3)
  top = jax.random.randint(k_top, (batch_size,), 0, image_size[0] - hole_h + 1)
  left = jax.random.randint(k_left, (batch_size,), 0, image_size[1] - hole_w + 1)
  shrink = jax.random.randint(k_shrink, (4, batch_size), 0,
                              jnp.array([shrink_h, shrink_h, shrink_w, shrink_w])[:, None] + 1)
  mask = _rectangles(image_size, top + shrink[0], left + shrink[2],
                     top + hole_h - shrink[1], left + hole_w - shrink[3])
  return mask, jnp.stack([top, left], axis=-1).astype(jnp.int32)


def centered_rectangles(batch_size: int, image_size: Size,
                        hole_size: Optional[Size] = None) -> Tuple[jax.Array, jax.Array]:
  """Evaluation holes: the centred box, no shrink. Returns (mask, corners)."""
  hole_h, hole_w = hole_size or default_hole_size(image_size)
  top = jnp.full((batch_size,), (image_size[0] - hole_h) // 2, jnp.int32)
  left = jnp.full((batch_size,), (image_size[1] - hole_w) // 2, jnp.int32)
  mask = _rectangles(image_size, top, left, top + hole_h, left + hole_w)
  return mask, jnp.stack([top, left], axis=-1)


def crop_patches(images: jax.Array, corners: jax.Array, size: Size) -> jax.Array:
  """Per-example crops (N, h, w, C) at corners (N, 2), the local critic's input."""
  def crop(image, corner):
    return jax.lax.dynamic_slice(image, (corner[0], corner[1], 0), (*size, image.shape[-1]))
  return jax.vmap(crop)(images, corners)


def _stroke_segments(key: jax.Array, image_size: Size, max_vertices: int, max_length: float,
                     width_range: Tuple[float, float], max_angle: float
                     ) -> Tuple[jax.Array, jax.Array, jax.Array, jax.Array]:
  """One random polyline: (starts (V, 2), ends (V, 2), widths (V,), active (V,)).

  As DeepFill v2 / the released code: random start, 1..max_vertices segments,
  each with a random angle (every other one mirrored so strokes wander rather
  than circle), length and brush width; vertices are clipped to the image.
  """
  k_num, k_start, k_angle, k_length, k_width = jax.random.split(key, 5)
  limit = jnp.array(image_size, jnp.float32) - 1.0
  num = jax.random.randint(k_num, (), 1, max_vertices + 1)
  start = jax.random.uniform(k_start, (2,)) * limit
  angle = jnp.deg2rad(jax.random.uniform(k_angle, (max_vertices,), maxval=max_angle))
  angle = jnp.where(jnp.arange(max_vertices) % 2 == 0, 2 * jnp.pi - angle, angle)
  length = jax.random.uniform(k_length, (max_vertices,), maxval=max_length)
  width = jax.random.uniform(k_width, (max_vertices,), minval=width_range[0], maxval=width_range[1])
  steps = length[:, None] * jnp.stack([jnp.cos(angle), jnp.sin(angle)], axis=-1)

  def walk(point, step):
    nxt = jnp.clip(point + step, 0.0, limit)
    return nxt, (point, nxt)

  _, (starts, ends) = jax.lax.scan(walk, start, steps)
  return starts, ends, width, jnp.arange(max_vertices) < num


def _draw_segments(image_size: Size, starts: jax.Array, ends: jax.Array,
                   widths: jax.Array, active: jax.Array) -> jax.Array:
  """(H, W) float mask of the union of round-capped thick segments."""
  grid = jnp.stack(jnp.meshgrid(jnp.arange(image_size[0], dtype=jnp.float32),
                                jnp.arange(image_size[1], dtype=jnp.float32),
                                indexing="ij"), axis=-1)

  def draw(canvas, segment):
    a, b, width, on = segment
    ab = b - a
    t = jnp.clip(jnp.sum((grid - a) * ab, -1) / jnp.maximum(jnp.sum(ab * ab), 1e-6), 0.0, 1.0)
    distance = jnp.linalg.norm(grid - (a + t[..., None] * ab), axis=-1)
    return jnp.maximum(canvas, ((distance <= width / 2) & on).astype(jnp.float32)), None

  canvas, _ = jax.lax.scan(draw, jnp.zeros(image_size, jnp.float32), (starts, ends, widths, active))
  return canvas


def free_form(
    key: jax.Array, batch_size: int, image_size: Size, *, strokes: int = 4,
    max_vertices: int = 12, max_length: Optional[float] = None,
    brush_width: Optional[Tuple[float, float]] = None, max_angle: float = 360.0,
) -> jax.Array:
  """Free-form stroke masks (N, H, W, 1), 1 = hole.

  Defaults scale the released AN settings on 256 (segments up to 80 px,
  brushes 10..20 px) with min(H, W) / 256; the released code meant to union 8
  strokes but reused one drawing 8 times, so `strokes` draws independent ones.
  """
  scale = min(image_size) / 256.0
  max_length = 80.0 * scale if max_length is None else max_length
  brush_width = (10.0 * scale, 20.0 * scale) if brush_width is None else brush_width

  def one_mask(example_key):
    segments = jax.vmap(lambda k: _stroke_segments(
        k, image_size, max_vertices, max_length, brush_width, max_angle))(
            jax.random.split(example_key, strokes))
    flat = jax.tree_util.tree_map(lambda x: x.reshape(-1, *x.shape[2:]), segments)
    return _draw_segments(image_size, *flat)

  masks = jax.vmap(one_mask)(jax.random.split(key, batch_size))
  return masks[..., None]


def full_image_corners(batch_size: int) -> jax.Array:
  """Corners for masks without a box (free-form): the local critic sees it all."""
  return jnp.zeros((batch_size, 2), jnp.int32)


def hole_box_size(image_size: Size, kind: str) -> Size:
  """Static size of the local critic's patch for a mask kind."""
  if kind == "rectangle":
    return default_hole_size(image_size)
  if kind == "free_form":
    return tuple(image_size)
  raise ValueError(f"Unknown mask kind {kind!r}; expected 'rectangle' or 'free_form'.")


def sample_training_masks(key: jax.Array, batch_size: int, image_size: Size,
                          kind: str) -> Tuple[jax.Array, jax.Array]:
  """Training masks of a kind, with the local critic's patch corners."""
  if kind == "rectangle":
    return random_rectangles(key, batch_size, image_size)
  if kind == "free_form":
    return free_form(key, batch_size, image_size), full_image_corners(batch_size)
  raise ValueError(f"Unknown mask kind {kind!r}; expected 'rectangle' or 'free_form'.")

