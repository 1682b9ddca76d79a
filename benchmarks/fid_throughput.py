"""Images/s of our FID Inception feature extraction against pytorch-fid's network.

  python -m benchmarks.fid_throughput [--batch_size 50] [--small] [--output PATH]

Both sides map one batch of uint8 128x128 images to pool3 features and logits, with the
same random weights in pytorch-fid's layout (ours converted from them by
`an_flax.metrics.convert_inception_weights`):
  ours: `make_feature_extractor`: /255, bilinear resize to 299 without antialiasing,
    2x - 1 and the Flax FID Inception (float32 convolutions at full precision), compiled
    as one program, from a host uint8 batch to host float32 arrays;
  pytorch-fid: its input path (/255, `F.interpolate` bilinear with align_corners=False,
    2x - 1) and network under `no_grad`, with torch's defaults (on a GPU, cuDNN may use
    TF32), from and to host arrays as ours. pytorch-fid needs torchvision, which cannot be
    installed next to our torch, so its network is the torch transcription in
    benchmarks/pytorch/fid_inception.py.
Where JAX's default backend is a GPU, both run on its first GPU (torch on CUDA); else both
run on the CPU, on as many threads as cores.
Times are medians of repeated calls after a warm-up call (ours: compilation), the two
taking turns (`timing.interleaved_medians`). The default batch is pytorch-fid's (50).
"""

from __future__ import annotations

import os
import pathlib
import tempfile
from collections.abc import Callable

from an_flax.runtime import xla_cpu

xla_cpu.use()  # before JAX compiles: the options eval.py runs with

import jax  # pylint: disable=g-import-not-at-top,wrong-import-position
import numpy as np
import torch
from jax.sharding import Mesh

from an_flax.metrics import (convert_inception_weights, load_inception_variables,
                             make_feature_extractor)
from benchmarks import report, timing
from benchmarks.pytorch import fid_inception

IMAGE_SIZE = 128
OURS = "ours: make_feature_extractor (XLA)"
PYTORCH = "pytorch-fid's network (torch)"
CORES = len(os.sched_getaffinity(0))

# uint8 NHWC images -> (pool3 (N, 2048), logits (N, 1008)) as host arrays.
Extract = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]


def on_gpu() -> bool:
  """Whether the comparison runs on a GPU; fails if JAX has one and torch does not."""
  if jax.default_backend() != "gpu":
    return False
  if not torch.cuda.is_available():
    raise RuntimeError("JAX runs on a GPU but torch sees none: install a CUDA build of torch, "
                       "or set JAX_PLATFORMS=cpu to compare on the CPU.")
  return True


def extractors(inception_size: int = fid_inception.INCEPTION_SIZE) -> dict[str, Extract]:
  """Both sides' extraction with one set of random weights, on one GPU or on the CPU (see
  the module docstring); our logits with the fc bias as torch's are (evaluation leaves it
  out for the IS)."""
  model = fid_inception.random_model(seed=0)
  with tempfile.TemporaryDirectory(prefix="fid_throughput_") as tmp:
    pth, npz = pathlib.Path(tmp) / "random.pth", pathlib.Path(tmp) / "inception_fid.npz"
    torch.save(model.state_dict(), pth)
    convert_inception_weights.convert(pth, npz, allow_other_weights=True)
    variables = load_inception_variables(npz)
  gpu = on_gpu()
  devices = jax.devices()[:1] if gpu else jax.devices("cpu")
  ours = make_feature_extractor(variables, mesh=Mesh(devices, ("data",)),
                                image_size=inception_size, logits_with_bias=True)
  torch_device = torch.device("cuda" if gpu else "cpu")
  model = model.to(torch_device)

  def pytorch(images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    pool3, logits = fid_inception.pytorch_fid_forward(
        model, torch.from_numpy(images).to(torch_device), inception_size)
    return pool3.cpu().numpy(), logits.cpu().numpy()

  return {OURS: ours, PYTORCH: pytorch}


def run(batch_size: int = 50, image_size: int = IMAGE_SIZE,
        inception_size: int = fid_inception.INCEPTION_SIZE, budget_s: float = 20.0) -> str:
  """The table; each side runs at least 3 times, and until `budget_s` is spent."""
  torch.set_num_threads(CORES)
  images = np.random.default_rng(0).integers(
      0, 256, (batch_size, image_size, image_size, 3), dtype=np.uint8)
  seconds = timing.interleaved_medians(
      {name: (extract, (images,)) for name, extract in extractors(inception_size).items()},
      min_runs=3, budget_s=budget_s)
  if on_gpu():
    unit, units = "GPU", 1
    where = (f"one {jax.devices()[0].device_kind}, jax {jax.__version__}, torch "
             f"{torch.__version__} (cuDNN TF32 allowed: {torch.backends.cudnn.allow_tf32})")
  else:
    unit, units = "core", CORES
    where = (f"{CORES} CPU cores, jax {jax.__version__} on {len(jax.devices('cpu'))} CPU "
             f"device(s), torch {torch.__version__} on {torch.get_num_threads()} threads")
  rows = []
  for name in (OURS, PYTORCH):
    rate = batch_size / seconds[name]
    rows.append(f"| {name} | {1e3 * seconds[name]:.0f} | {rate:.1f} | {rate / units:.2f} | "
                f"{seconds[PYTORCH] / seconds[name]:.2f}x |")
  return "\n".join([
      f"uint8 {image_size}x{image_size} images, batch {batch_size}, resized to "
      f"{inception_size}x{inception_size}, to pool3 + logits; {where}. Medians after a "
      "warm-up call, taking turns.",
      "",
      f"| network | ms / batch | images/s | images/s per {unit} | ours / pytorch-fid (speed) |",
      "|---|---|---|---|---|",
      *rows])


def main() -> None:
  args = report.throughput_parser(__doc__.split("\n\n")[0], 50,
                                  "batch 2, Inception input 75x75",
                                  "fid_throughput_<cpu or gpu>.md").parse_args()
  if args.small:
    table = run(batch_size=2, inception_size=75, budget_s=0.0)
  else:
    table = run(args.batch_size)
  command = "python -m benchmarks.fid_throughput " + (
      "--small" if args.small else f"--batch_size {args.batch_size}")
  report.write_unless_small(
      args, os.path.join(report.RESULTS_DIR, f"fid_throughput_{'gpu' if on_gpu() else 'cpu'}.md"),
      "FID feature extraction: ours against pytorch-fid's network", command, table)


if __name__ == "__main__":
  main()
