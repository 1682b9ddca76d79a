"""Images/s of each Inception input path (`--resize` mode), alone and with the FID Inception.

  python -m benchmarks.resize_modes [--batch_size 50] [--small] [--output PATH]

A batch of uint8 128x128 images goes, on one device of JAX's default backend, through
  resize alone: `inception_input(images, 299, mode)` under `jax.jit`, from the host batch
    to the network input on the device;
  resize + Inception: `make_feature_extractor(..., resize=mode)` (random weights of
    pytorch-fid's layout, benchmarks/pytorch/fid_inception.py), from the host batch to
    host pool3 features and logits;
for each mode (legacy: pytorch-fid's bilinear; clean: clean-fid's PIL bicubic; friendly:
StudioGAN's PIL bilinear; the PIL ones as two matrix products). Beside them, the resize as
clean-fid and StudioGAN run it: PIL on the host, one image and one channel at a time, on one
core (each of their DataLoader workers does that; `benchmarks/pytorch/inception_inputs.py`).
Times are medians of repeated calls after a warm-up call (ours: compilation), all rows
taking turns (`timing.interleaved_medians`).
"""

from __future__ import annotations

import os

from an_flax.runtime import xla_cpu

xla_cpu.use()  # before JAX compiles: the options eval.py runs with

import jax  # pylint: disable=g-import-not-at-top,wrong-import-position
import numpy as np
from flax import traverse_util
from jax.sharding import Mesh

from an_flax.metrics import make_feature_extractor
from an_flax.metrics.preprocess import INCEPTION_SIZE, RESIZE_MODES, inception_input
from an_flax.metrics.weights import flax_from_torch_state_dict
from benchmarks import report, timing
from benchmarks.pytorch import fid_inception, inception_inputs

IMAGE_SIZE = 128
OURS = {"legacy": "ours (XLA): bilinear without antialiasing (pytorch-fid)",
        "clean": "ours (XLA): PIL bicubic as matrix products, clipped (clean-fid)",
        "friendly": "ours (XLA): PIL bilinear as matrix products (StudioGAN)"}
HOST = {"clean": "clean-fid's: PIL on the host, per image and channel",
        "friendly": "StudioGAN's: PIL on the host, per image and channel"}


def device_name() -> str:
  device = jax.devices()[0]
  return f"{device.platform} ({device.device_kind})"


def calls(images: np.ndarray, inception_size: int) -> dict[tuple[str, str, str], tuple]:
  """(mode, row, column) -> (function, arguments) for `timing.interleaved_medians`."""
  mesh = Mesh(jax.devices()[:1], ("data",))
  state = fid_inception.random_model(seed=0).state_dict()
  variables = traverse_util.unflatten_dict(
      flax_from_torch_state_dict({k: v.numpy() for k, v in state.items()}), sep="/")
  table = {}
  for mode in RESIZE_MODES:
    resize = jax.jit(lambda x, mode=mode: inception_input(x, inception_size, mode))
    extract = make_feature_extractor(variables, mesh=mesh, image_size=inception_size,
                                     resize=mode)
    table[mode, OURS[mode], "resize"] = (resize, (images,))
    table[mode, OURS[mode], "inception"] = (extract, (images,))
  table["clean", HOST["clean"], "resize"] = (inception_inputs.clean_fid_input,
                                             (images, inception_size))
  table["friendly", HOST["friendly"], "resize"] = (inception_inputs.studiogan_input,
                                                   (images, inception_size, "friendly"))
  return table


def run(batch_size: int = 50, image_size: int = IMAGE_SIZE,
        inception_size: int = INCEPTION_SIZE, budget_s: float = 10.0) -> str:
  """The table; each call runs at least 3 times, and until `budget_s` is spent."""
  images = np.random.default_rng(0).integers(
      0, 256, (batch_size, image_size, image_size, 3), dtype=np.uint8)
  seconds = timing.interleaved_medians(calls(images, inception_size), min_runs=3,
                                       budget_s=budget_s)
  rows = []
  for mode, name in [*((mode, OURS[mode]) for mode in RESIZE_MODES), *HOST.items()]:
    rates = [f"{batch_size / seconds[mode, name, column]:.1f}"
             if (mode, name, column) in seconds else "n/a" for column in ("resize", "inception")]
    rows.append(f"| {mode} | {name} | {rates[0]} | {rates[1]} |")
  return "\n".join([
      f"uint8 {image_size}x{image_size} images, batch {batch_size}, to {inception_size}x"
      f"{inception_size} network input; ours on one device, {device_name()}, jax "
      f"{jax.__version__}; the host rows on one of {len(os.sched_getaffinity(0))} CPU cores. "
      "Medians after a warm-up call, taking turns.",
      "",
      "| resize | path | resize alone: images/s | resize + Inception: images/s |",
      "|---|---|---|---|",
      *rows])


def main() -> None:
  args = report.throughput_parser(__doc__.split("\n\n")[0], 50,
                                  "batch 2, network input 75x75",
                                  "resize_modes_<platform>.md").parse_args()
  if args.small:
    table = run(batch_size=2, inception_size=75, budget_s=0.0)
  else:
    table = run(args.batch_size)
  command = "python -m benchmarks.resize_modes " + (
      "--small" if args.small else f"--batch_size {args.batch_size}")
  report.write_unless_small(
      args, os.path.join(report.RESULTS_DIR, f"resize_modes_{jax.devices()[0].platform}.md"),
      "Inception input paths: images/s of each resize mode", command, table)


if __name__ == "__main__":
  main()
