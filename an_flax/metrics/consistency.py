"""Long-range consistency of images whose class fixes a symmetry: how far an image is from
repeating itself the way its class does, in uint8 levels (0 for an exact repeat).

Layouts (per class, given by the dataset; `symmetric_shapes.class_layout`):
  'mirror'  the right half is the left half mirrored: error = mean |L - flip(R)| over the
            H x W/2 x C values, L and R the left and right halves, flip left/right.
  'tile'    a 2x2 tiling: the image equals itself shifted by half its size along each axis.
            error = (mean |T - B| + mean |L - R|) / 2, T and B the top and bottom halves;
            both shifts are checked, since either alone holds for stripes.
Real images are not exactly 0: their background noise differs between the copies, so
report the real images' number beside the samples'.
"""

from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike

LAYOUTS = ("mirror", "tile")
DEFINITION = ("mirror classes: mean |left half - flipped right half|; tile classes: mean of "
              "mean |top half - bottom half| and mean |left half - right half|; in uint8 "
              "levels, averaged over the images")


def _mirror_errors(x: np.ndarray) -> np.ndarray:
  half = x.shape[2] // 2
  return np.abs(x[:, :, :half] - x[:, :, half:][:, :, ::-1]).mean(axis=(1, 2, 3))


def _tile_errors(x: np.ndarray) -> np.ndarray:
  h, w = x.shape[1] // 2, x.shape[2] // 2
  vertical = np.abs(x[:, :h] - x[:, h:]).mean(axis=(1, 2, 3))
  horizontal = np.abs(x[:, :, :w] - x[:, :, w:]).mean(axis=(1, 2, 3))
  return (vertical + horizontal) / 2


def consistency_errors(images: ArrayLike, labels: ArrayLike,
                       class_layouts: Sequence[str]) -> np.ndarray:
  """Per-image error (N,) of uint8 NHWC images (even H, W); `class_layouts[c]` is class c's."""
  images, labels = np.asarray(images), np.asarray(labels)
  if images.dtype != np.uint8:
    raise ValueError(f"Consistency errors are in uint8 levels: pass uint8 images, "
                     f"not {images.dtype}.")
  if images.shape[1] % 2 or images.shape[2] % 2:
    raise ValueError(f"Images need an even height and width, got {images.shape[1:3]}.")
  layouts = np.asarray(class_layouts)[labels]
  unknown = set(layouts.tolist()) - set(LAYOUTS)
  if unknown:
    raise ValueError(f"Unknown layouts {sorted(unknown)}; expected {LAYOUTS}.")
  x = images.astype(np.float64)
  errors = np.empty(len(x))
  for layout, fn in (("mirror", _mirror_errors), ("tile", _tile_errors)):
    rows = layouts == layout
    if rows.any():
      errors[rows] = fn(x[rows])
  return errors


def mean_by_layout(errors: ArrayLike, labels: ArrayLike,
                   class_layouts: Sequence[str]) -> dict[str, float]:
  """{'all': mean error, '<layout>': mean over the images of that layout} (layouts seen)."""
  errors = np.asarray(errors, np.float64)
  layouts = np.asarray(class_layouts)[np.asarray(labels)]
  means = {"all": float(errors.mean())}
  means.update({layout: float(errors[layouts == layout].mean())
                for layout in LAYOUTS if (layouts == layout).any()})
  return means
