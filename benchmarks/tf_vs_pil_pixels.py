"""How far the on-the-fly TensorFlow path's 128x128 images are from the PyTorch loaders'.

  python -m benchmarks.tf_vs_pil_pixels [--images 300] [--size 128] [--output PATH]

The data: `--images` JPEGs (quality 90, PIL's 4:2:0) of random sides in [100, 700], the
photo-like pictures of `benchmarks.input_pipeline`. The reference: the PyTorch loaders'
transform as `benchmarks.input_pipeline` transcribes it (PIL decode, `CenterCropLongEdge`,
`Resize(size)` bilinear). Rows:
  prepared: `pil_preprocess.pil_square_image(..., 'bilinear')`, what `an_flax.data.prepare`
    writes;
  on the fly: `preprocess.decode_example` (libjpeg's accurate DCT, torchvision's crop
    offsets, `tf.image.resize` bilinear with antialiasing, rounded);
  on the fly, floored crop: the same with the crop offsets floored, as before they were
    torchvision's (a 1-pixel shift whenever the sides differ by an odd amount 2k + 1 with k
    odd).
Counts every uint8 value (pixel x channel) that differs from the reference. No timing.
"""

from __future__ import annotations

import argparse
import io
import os

import numpy as np
import tensorflow as tf
from PIL import Image

from an_flax.data import pil_preprocess, preprocess
from benchmarks import ilsvrc_tars, input_pipeline, report

PREPARED = 'prepared: pil_square_image (PIL)'
ON_THE_FLY = 'on the fly: TF decode, torchvision crop, tf.image.resize'
FLOORED = 'on the fly before: crop offsets floored'


def pytorch_loader_pixels(encoded: bytes, size: int) -> np.ndarray:
  image = Image.open(io.BytesIO(encoded)).convert('RGB')
  return np.asarray(input_pipeline.resize(input_pipeline.center_crop_long_edge(image), size))


def floored_crop_pixels(encoded: bytes, size: int) -> np.ndarray:
  image = tf.io.decode_jpeg(encoded, channels=3, dct_method=preprocess.JPEG_DCT)
  height, width = image.shape[:2]
  side = min(height, width)
  top, left = (height - side) // 2, (width - side) // 2
  return preprocess.resize_uint8(image[top:top + side, left:left + side], size).numpy()


def run(images: int = 300, size: int = 128, seed: int = 0) -> str:
  rng = np.random.default_rng(seed)
  sides = rng.integers(100, 701, (images, 2))
  rows = {PREPARED: [], ON_THE_FLY: [], FLOORED: []}
  odd_shift = 0
  for width, height in sides:
    encoded = ilsvrc_tars.encode_jpeg(input_pipeline.photo(int(width), int(height), rng), 90)
    reference = pytorch_loader_pixels(encoded, size).astype(int)
    ours = {
        PREPARED: pil_preprocess.pil_square_image(encoded, size, 'bilinear'),
        ON_THE_FLY: preprocess.decode_example(
            {'image': tf.constant(encoded), 'label': 0}, size)['image'].numpy(),
        FLOORED: floored_crop_pixels(encoded, size),
    }
    for name, pixels in ours.items():
      rows[name].append(np.abs(pixels.astype(int) - reference))
    excess = abs(int(width) - int(height))
    odd_shift += excess % 2 == 1 and (excess // 2) % 2 == 1
  total = images * size * size * 3
  lines = [
      f"{images} JPEGs of random sides in [100, 700] (quality 90, 4:2:0), {odd_shift} of them "
      "with sides differing by 2k + 1, k odd (where floor and torchvision's round differ), "
      f"to uint8 {size}x{size}; against the PyTorch loaders' pixels (PIL decode, "
      "CenterCropLongEdge, PIL bilinear Resize). Every uint8 value counted.",
      "",
      "| path | values differing | share | max abs diff | mean abs diff |",
      "|---|---|---|---|---|"]
  for name, diffs in rows.items():
    diffs = np.stack(diffs)
    differing = int(np.count_nonzero(diffs))
    lines.append(f"| {name} | {differing:,} of {total:,} | {differing / total:.2%} | "
                 f"{diffs.max()} | {diffs.mean():.4f} |")
  return "\n".join(lines)


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--images", type=int, default=300)
  parser.add_argument("--size", type=int, default=128)
  parser.add_argument("--output", default=os.path.join(report.RESULTS_DIR,
                                                       "tf_vs_pil_pixels_cpu.md"))
  args = parser.parse_args()
  report.write(args.output, "On-the-fly TensorFlow images against the PyTorch loaders' pixels",
               f"python -m benchmarks.tf_vs_pil_pixels --images {args.images} --size {args.size}",
               run(args.images, args.size))


if __name__ == "__main__":
  main()
