"""Where an ImageNet image's preparation time goes, on one core: ours against PIL's.

  python -m benchmarks.jpeg_decode_cost [--images 40] [--rounds 5] [--output PATH]

The images are `benchmarks/input_pipeline.py`'s (ImageNet's sizes and file weights,
quality 90). Each row is one way of making them, or a stage of it, on one thread:
TensorFlow's ops mapped by a one-thread tf.data pipeline, as ours runs them; PIL in a
Python loop, as a DataLoader worker runs it. ms/image is the median over `--rounds`
rounds in which the rows take turns. The last column is the mean absolute difference, in
uint8 levels, of a row's 128x128 images from ours (`preprocess.decode_example`).

Both decoders are libjpeg-turbo. The TF rows before ours are the ways to the centre
square that ours chose between. The row after it is TensorFlow's resize run another way
for the same pixels; the last two are what a faster decode would give up in pixels:
libjpeg's DCT scaling (`ratio=2`: the window's 8x8 blocks inverse-transformed at 4x4)
and its fast integer DCT. A window still has every coefficient above and beside
it entropy-decoded, which is where most of a JPEG's decode time goes.
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import time
from collections.abc import Callable

import numpy as np
import tensorflow as tf
from PIL import Image

from an_flax.data import preprocess
from benchmarks import input_pipeline, report

SIZE = input_pipeline.IMAGE_SIZE


def _pil_decode(jpeg: bytes) -> Image.Image:
  return Image.open(io.BytesIO(jpeg)).convert("RGB")


def _pil_work(jpeg: bytes) -> np.ndarray:
  """The DataLoader's per-image work in benchmarks/input_pipeline.py."""
  image = input_pipeline.center_crop_long_edge(_pil_decode(jpeg))
  return np.asarray(input_pipeline.resize(image, SIZE))


def _tf_window(jpeg: tf.Tensor, ratio: int, dct_method: str) -> tf.Tensor:
  """The centred square decoded at 1/`ratio` scale (libjpeg's output is ceil(side/ratio)
  and the crop window is in its coordinates)."""
  shape = tf.io.extract_jpeg_shape(jpeg)
  height, width = -(-shape[0] // ratio), -(-shape[1] // ratio)
  side = tf.minimum(height, width)
  window = tf.stack([(height - side) // 2, (width - side) // 2, side, side])
  return tf.io.decode_and_crop_jpeg(jpeg, window, channels=3, ratio=ratio,
                                    dct_method=dct_method)


def _resize_axis_by_axis(image: tf.Tensor, size: int) -> tf.Tensor:
  """`preprocess.resize_uint8` as two one-axis resizes, each with the other axis and the
  colours as one long channel axis: the same kernel and pixels, in case TensorFlow's
  resize runs faster along its channels than over 3 of them (it does not)."""
  def along_rows(rows: tf.Tensor) -> tf.Tensor:  # (n, channels) -> (size, channels)
    scale = size / tf.cast(tf.shape(rows)[0], tf.float32)
    return tf.raw_ops.ScaleAndTranslate(
        images=rows[None, :, None, :], size=[size, 1], scale=tf.stack([scale, 1.0]),
        translation=[0.0, 0.0], kernel_type="triangle", antialias=True)[0, :, 0, :]
  side = tf.shape(image)[0]
  rows = tf.reshape(along_rows(tf.reshape(image, (side, -1))), (size, side, 3))
  columns = along_rows(tf.reshape(tf.transpose(rows, (1, 0, 2)), (side, size * 3)))
  resized = tf.transpose(tf.reshape(columns, (size, size, 3)), (1, 0, 2))
  return tf.cast(tf.clip_by_value(tf.round(resized), 0.0, 255.0), tf.uint8)


PIL_ROWS: dict[str, Callable[[bytes], object]] = {
    "PIL: whole JPEG decoded": _pil_decode,
    "PIL: + long-edge crop, bilinear resize (the DataLoader's work)": _pil_work,
}
TF_ROWS: dict[str, Callable[[tf.Tensor], tf.Tensor]] = {
    "TF: whole JPEG decoded": lambda j: tf.io.decode_jpeg(
        j, channels=3, dct_method=preprocess.JPEG_DCT),
    "TF: + centre square cut out": preprocess.decode_center_square,
    "TF: only the centre square's window decoded": lambda j: _tf_window(
        j, 1, preprocess.JPEG_DCT),
    "TF: the same behind a tf.cond on the format": lambda j: tf.cond(
        tf.io.is_jpeg(j), lambda: _tf_window(j, 1, preprocess.JPEG_DCT),
        lambda: tf.io.decode_image(j, channels=3, expand_animations=False)),
    "TF: + antialiased resize, uint8 (ours)": lambda j: preprocess.resize_uint8(
        preprocess.decode_center_square(j), SIZE),
    "TF: the same resize one axis at a time": lambda j: _resize_axis_by_axis(
        preprocess.decode_center_square(j), SIZE),
    "TF: window at 1/2 scale in the DCT, + resize": lambda j: preprocess.resize_uint8(
        _tf_window(j, 2, preprocess.JPEG_DCT), SIZE),
    "TF: fast integer DCT, + resize": lambda j: preprocess.resize_uint8(
        _tf_window(j, 1, "INTEGER_FAST"), SIZE),
}
OURS = "TF: + antialiased resize, uint8 (ours)"
AXIS_BY_AXIS = "TF: the same resize one axis at a time"
PIL_WORK = "PIL: + long-edge crop, bilinear resize (the DataLoader's work)"


def _one_thread(ds: tf.data.Dataset) -> tf.data.Dataset:
  options = tf.data.Options()
  options.threading.private_threadpool_size = 1
  return ds.with_options(options)


def _tf_outputs(fn: Callable[[tf.Tensor], tf.Tensor], jpegs: list[bytes]) -> list[np.ndarray]:
  return list(_one_thread(tf.data.Dataset.from_tensor_slices(jpegs).map(fn)).as_numpy_iterator())


def _tf_timer(fn: Callable[[tf.Tensor], tf.Tensor], jpegs: list[bytes]) -> Callable[[], object]:
  """A pass of `fn` over the images inside tf.data, as the input pipeline runs it (no
  Python between images). It sums a pixel of each image: a value that depends on the
  decode, where an output's static size would let TensorFlow prune the work away."""
  pixels = _one_thread(tf.data.Dataset.from_tensor_slices(jpegs).map(
      lambda j: tf.cast(fn(j)[0, 0, 0], tf.int64)))
  return lambda: pixels.reduce(np.int64(0), lambda total, pixel: total + pixel).numpy()


def _pil_timer(fn: Callable[[bytes], object], jpegs: list[bytes]) -> Callable[[], object]:
  """A pass of `fn` over the images in Python, as a DataLoader worker runs it."""
  return lambda: [fn(jpeg) for jpeg in jpegs]


def run(images: int = 40, rounds: int = 5) -> str:
  """The table: ms/image of every row (rows taking turns), its ratio and its difference."""
  jpegs = input_pipeline.imagenet_like_jpegs(images, classes=1)[0]
  outputs = {name: [np.asarray(fn(jpeg)) for jpeg in jpegs] for name, fn in PIL_ROWS.items()}
  outputs.update({name: _tf_outputs(fn, jpegs) for name, fn in TF_ROWS.items()})
  ours = outputs[OURS]
  difference = {
      name: np.mean([np.abs(o.astype(np.int32) - r.astype(np.int32)).mean()
                     for o, r in zip(images_, ours)])
      for name, images_ in outputs.items() if images_[0].shape == ours[0].shape}
  timers = {**{name: _pil_timer(fn, jpegs) for name, fn in PIL_ROWS.items()},
            **{name: _tf_timer(fn, jpegs) for name, fn in TF_ROWS.items()}}
  times: dict[str, list[float]] = {name: [] for name in timers}
  for _ in range(rounds):
    for name, timer in timers.items():
      start = time.perf_counter()
      timer()
      times[name].append((time.perf_counter() - start) / len(jpegs) * 1e3)
  ms = {name: statistics.median(values) for name, values in times.items()}
  kilobytes = sum(map(len, jpegs)) / len(jpegs) / 1e3
  lines = [
      f"{images} JPEGs of ImageNet's sizes ({kilobytes:.0f} KB on average), one thread, "
      f"medians of {rounds} rounds; the difference is the mean |level| from ours over the "
      f"{SIZE}x{SIZE} images.",
      "",
      "| row | ms/image | the DataLoader's work / row | difference from ours |",
      "|---|---|---|---|"]
  for name in timers:
    diff = f"{difference[name]:.2f}" if name in difference else "(not 128x128)"
    lines.append(f"| {name} | {ms[name]:.2f} | {ms[PIL_WORK] / ms[name]:.2f}x | {diff} |")
  return "\n".join(lines)


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--images", type=int, default=40)
  parser.add_argument("--rounds", type=int, default=5)
  parser.add_argument("--output", default=os.path.join(report.RESULTS_DIR,
                                                       "jpeg_decode_cost_cpu.md"))
  args = parser.parse_args()
  report.write(args.output, "Where an ImageNet image's preparation time goes (one core)",
               f"python -m benchmarks.jpeg_decode_cost --images {args.images} "
               f"--rounds {args.rounds}", run(args.images, args.rounds))


if __name__ == "__main__":
  main()
