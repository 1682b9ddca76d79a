"""Images between uint8 and [-1, 1], and the FID Inception's input paths of pytorch-fid,
clean-fid and StudioGAN, exactly as each feeds the network, on the device.

Every network here (G's output, D's and the classifiers' input) works in [-1, 1];
images cross to the devices and back as uint8.

Each `resize` mode of `inception_input` takes uint8 images (generated ones quantised first,
as a PNG writer or StudioGAN's `quantize_images` would) and does what its codebase does:
  legacy    pytorch-fid (and the paper): /255, `F.interpolate(mode='bilinear',
            align_corners=False)` (no antialiasing), 2x - 1.
  clean     clean-fid (`cleanfid/resize.py`, `features.py`, `inception_torchscript.py`):
            PIL bicubic of each channel in float mode 'F', clipped to [0, 255], then
            (x - 128) / 128.
  friendly  StudioGAN's `--post_resizer friendly` for `InceptionV3_tf` (`src/utils/resize.py`,
            `src/metrics/preparation.py`, `src/utils/ops.py`): PIL bilinear of each channel
            in mode 'F', not clipped, then (x / 255 - 0.5) / 0.5.
PIL's resampling runs as two matrix products (`resize_like_pil`) so a batch resizes on the
accelerator instead of one channel at a time through PIL on the host.
"""

import functools
from collections.abc import Callable
from typing import Literal

import jax
import jax.numpy as jnp
import numpy as np

INCEPTION_SIZE = 299
ResizeMode = Literal["legacy", "clean", "friendly"]
RESIZE_MODES = ("legacy", "clean", "friendly")


def quantize_to_uint8(images: jax.Array) -> jax.Array:
  """Float images in [-1, 1] -> uint8, as `torchvision.utils.save_image((x + 1) / 2)` does.

  u8 = clip(floor(((x + 1) / 2) * 255 + 0.5), 0, 255) in float32: round half up, with
  out-of-range values clipped. StudioGAN's `quantize_images` is the same rule.
  """
  x = (images.astype(jnp.float32) + 1.0) / 2.0
  return jnp.clip(jnp.floor(x * 255.0 + 0.5), 0.0, 255.0).astype(jnp.uint8)


def uint8_to_float(images: jax.Array) -> jax.Array:
  """uint8 [0, 255] -> float32 [-1, 1]: how every network here takes images."""
  return images.astype(jnp.float32) / 127.5 - 1.0


def check_resize_mode(resize: str) -> None:
  if resize not in RESIZE_MODES:
    raise ValueError(f"Unknown resize mode {resize!r}; use one of {', '.join(RESIZE_MODES)}.")


def _bicubic(x: np.ndarray) -> np.ndarray:
  a, x = -0.5, np.abs(x)
  return np.where(x < 1.0, ((a + 2.0) * x - (a + 3.0)) * x * x + 1.0,
                  np.where(x < 2.0, (((x - 5.0) * x + 8.0) * x - 4.0) * a, 0.0))


def _bilinear(x: np.ndarray) -> np.ndarray:
  return np.maximum(1.0 - np.abs(x), 0.0)


def _lanczos(x: np.ndarray) -> np.ndarray:
  # np.sinc(x) = sin(pi x) / (pi x), 1 at 0: PIL's sinc_filter.
  return np.where((-3.0 <= x) & (x < 3.0), np.sinc(x) * np.sinc(x / 3.0), 0.0)


# PIL's filters (src/libImaging/Resample.c) and their support at scale 1.
PIL_FILTERS: dict[str, tuple[Callable[[np.ndarray], np.ndarray], float]] = {
    "bilinear": (_bilinear, 1.0), "bicubic": (_bicubic, 2.0), "lanczos": (_lanczos, 3.0)}


@functools.cache
def pil_resample_weights(in_size: int, out_size: int, resample: str) -> np.ndarray:
  """(out_size, in_size) float32 matrix of PIL's weights for resizing one axis.

  Written from `precompute_coeffs` in Pillow's src/libImaging/Resample.c (python-pillow/
  Pillow at 4e5f09f5), since PIL exposes no weights: output pixel i is centred at
  (i + 0.5) * scale in the input; when downscaling (scale > 1) the filter is stretched by
  the scale (antialiasing); taps are the inputs within the support, rounded as PIL rounds
  them, and each row is normalised to sum to 1. Computed in float64 as PIL does.
  """
  if resample not in PIL_FILTERS:
    raise ValueError(f"Unknown PIL filter {resample!r}; use one of {sorted(PIL_FILTERS)}.")
  kernel, filter_support = PIL_FILTERS[resample]
  scale = in_size / out_size
  filter_scale = max(scale, 1.0)
  support = filter_support * filter_scale
  centres = (np.arange(out_size) + 0.5) * scale
  # C's (int) truncates toward zero; the clip to [0, in_size] makes that a floor here.
  first = np.clip(np.trunc(centres - support + 0.5), 0, None)
  stop = np.minimum(np.trunc(centres + support + 0.5), in_size)
  inputs = np.arange(in_size)
  taps = (inputs >= first[:, None]) & (inputs < stop[:, None])
  weights = np.where(taps, kernel((inputs - centres[:, None] + 0.5) * (1.0 / filter_scale)),
                     0.0)
  totals = weights.sum(axis=1, keepdims=True)
  weights = (weights / np.where(totals == 0.0, 1.0, totals)).astype(np.float32)
  weights.flags.writeable = False  # Shared by the cache.
  return weights


def resize_like_pil(images: jax.Array, size: int | tuple[int, int], resample: str) -> jax.Array:
  """float32 NHWC images in [0, 255] -> (N, height, width, C), as PIL resizes mode 'F'.

  Equals `Image.fromarray(channel, 'F').resize((width, height), <resample>)` of each
  channel ('bilinear', 'bicubic' or 'lanczos'): separable weights, the horizontal pass
  first and a float32 image between the passes, no clipping. Each pass is one matrix
  product at full float32 precision (TPUs and GPUs would otherwise round the operands to
  bfloat16 / TF32); PIL accumulates in float64, which leaves differences of a few float32
  ulps (under 1e-4 levels).
  """
  height, width = (size, size) if isinstance(size, int) else size
  _, in_height, in_width, _ = images.shape
  rows = jnp.asarray(pil_resample_weights(in_height, height, resample))
  columns = jnp.asarray(pil_resample_weights(in_width, width, resample))
  highest = jax.lax.Precision.HIGHEST
  x = jnp.einsum("nhwc,vw->nhvc", images.astype(jnp.float32), columns, precision=highest)
  return jnp.einsum("nhwc,uh->nuwc", x, rows, precision=highest)


def inception_input(images_uint8: jax.Array, size: int = INCEPTION_SIZE,
                    resize: ResizeMode = "legacy") -> jax.Array:
  """uint8 NHWC images of any size -> float32 (N, size, size, C), as `resize` feeds it.

  See the module docstring for the three modes. In "legacy", half-pixel-centred bilinear
  without antialiasing equals torch's `F.interpolate(mode='bilinear', align_corners=False)`,
  also when downsizing.
  """
  check_resize_mode(resize)
  x = images_uint8.astype(jnp.float32)
  n, _, _, c = x.shape
  if resize == "legacy":
    x = jax.image.resize(x / 255.0, (n, size, size, c), "bilinear", antialias=False)
    return 2.0 * x - 1.0
  if resize == "clean":
    x = jnp.clip(resize_like_pil(x, size, "bicubic"), 0.0, 255.0)
    return (x - 128.0) / 128.0
  return (resize_like_pil(x, size, "bilinear") / 255.0 - 0.5) / 0.5  # friendly
