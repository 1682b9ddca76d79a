"""Cost per image of FD_DINOv2 features: ours against dgm-eval's path, and their agreement.

  python -m benchmarks.dinov2_cost [--batch_size 8] [--image_size 128] [--small] [--output PATH]

Both sides map one batch of uint8 images to DINOv2 ViT-L/14 features (N, 1024) with the same
random weights in the released file's layout (ours converted from them by the converter's
`convert_state_dict`):
  ours: `make_dinov2_extractor`: PIL's bicubic resize to 224x224 as two int32 matrix
    products, /255, the ImageNet mean and std, and the Flax ViT-L/14 (float32 at full
    precision), compiled as one program, from a host uint8 batch to host float32 features;
  dgm-eval: `DINOv2Encoder.transform` per image on the host (PIL `Image.resize`, `ToTensor`,
    `Normalize`) and DINOv2's network under `no_grad` with torch's defaults. dgm-eval runs
    torch.hub's DINOv2 code, which this venv cannot fetch; its network here is the torch
    transcription in benchmarks/pytorch/dinov2.py.
Where JAX's default backend is a GPU, both networks run on its first GPU (torch on CUDA);
else both run on the CPU, on as many threads as cores. Times are medians of repeated calls
after a warm-up call (ours: compilation), the two taking turns. The table also gives the
largest difference between the two sides' features (the full-size parity check; the tests
compare them on a tiny ViT).
"""

from __future__ import annotations

import os
from collections.abc import Callable

from an_flax.runtime import xla_cpu

xla_cpu.use()  # before JAX compiles: the options eval.py runs with

import jax  # pylint: disable=g-import-not-at-top,wrong-import-position
import numpy as np
import torch
from flax import traverse_util
from jax.sharding import Mesh

from an_flax.metrics.dinov2 import INPUT_SIZE, VIT_L14, ViTConfig, make_dinov2_extractor
from an_flax.metrics.dinov2_weights import weights_format
from an_flax.metrics.weights import convert_state_dict
from benchmarks import fid_throughput, report, timing
from benchmarks.pytorch import dinov2 as reference

OURS = "ours: make_dinov2_extractor (XLA)"
DGM_EVAL = "dgm-eval's transform and network (PIL, torch)"
CORES = len(os.sched_getaffinity(0))
# The --small check's network: ViT-L/14's code path at toy widths.
SMALL = ViTConfig(embed_dim=32, depth=2, num_heads=2, pos_grid=4)

# uint8 NHWC images -> features (N, D) as a host array.
Extract = Callable[[np.ndarray], np.ndarray]


def extractors(config: ViTConfig = VIT_L14, input_size: int = INPUT_SIZE
               ) -> dict[str, Extract]:
  """Both sides with one set of random weights, on one GPU or on the CPU (see the module
  docstring)."""
  model = reference.random_model(
      seed=0, img_size=config.pos_grid * config.patch_size, patch_size=config.patch_size,
      embed_dim=config.embed_dim, depth=config.depth, num_heads=config.num_heads,
      mlp_ratio=config.mlp_ratio, interpolate_offset=config.interpolate_offset)
  flat = convert_state_dict(weights_format(config),
                            {k: v.numpy() for k, v in model.state_dict().items()})
  gpu = fid_throughput.on_gpu()
  devices = jax.devices()[:1] if gpu else jax.devices("cpu")
  ours = make_dinov2_extractor(traverse_util.unflatten_dict(flat, sep="/"),
                               mesh=Mesh(devices, ("data",)), config=config,
                               image_size=input_size)
  torch_device = torch.device("cuda" if gpu else "cpu")
  model = model.to(torch_device)

  def dgm_eval(images: np.ndarray) -> np.ndarray:
    batch = torch.stack([reference.dgm_eval_input(image, input_size) for image in images])
    with torch.no_grad():
      return model(batch.to(torch_device)).cpu().numpy()

  return {OURS: lambda images: ours(images)[0], DGM_EVAL: dgm_eval}


def run(batch_size: int = 8, image_size: int = 128, config: ViTConfig = VIT_L14,
        input_size: int = INPUT_SIZE, budget_s: float = 20.0) -> str:
  """The table; each side runs at least 3 times, and until `budget_s` is spent."""
  torch.set_num_threads(CORES)
  images = np.random.default_rng(0).integers(
      0, 256, (batch_size, image_size, image_size, 3), dtype=np.uint8)
  sides = extractors(config, input_size)
  features = {name: extract(images) for name, extract in sides.items()}
  difference = np.abs(features[OURS] - features[DGM_EVAL]).max()
  seconds = timing.interleaved_medians(
      {name: (extract, (images,)) for name, extract in sides.items()},
      min_runs=3, budget_s=budget_s)
  if fid_throughput.on_gpu():
    unit, units = "GPU", 1
    where = (f"one {jax.devices()[0].device_kind}, jax {jax.__version__}, torch "
             f"{torch.__version__}")
  else:
    unit, units = "core", CORES
    where = (f"{CORES} CPU cores, jax {jax.__version__} on {len(jax.devices('cpu'))} CPU "
             f"device(s), torch {torch.__version__} on {torch.get_num_threads()} threads")
  network = "ViT-L/14" if config == VIT_L14 else f"the toy ViT {config}"
  rows = []
  for name in (OURS, DGM_EVAL):
    per_image = seconds[name] / batch_size
    rows.append(f"| {name} | {1e3 * seconds[name]:.0f} | {1e3 * per_image:.1f} | "
                f"{1 / per_image / units:.2f} | {seconds[DGM_EVAL] / seconds[name]:.2f}x |")
  return "\n".join([
      f"uint8 {image_size}x{image_size} images, batch {batch_size}, resized to "
      f"{input_size}x{input_size}, to DINOv2 {network} features; {where}. Medians after a "
      "warm-up call, taking turns.",
      "",
      f"| side | ms / batch | ms / image | images/s per {unit} | ours / dgm-eval (speed) |",
      "|---|---|---|---|---|",
      *rows,
      "",
      f"Largest |ours - dgm-eval| over the {features[OURS].size} features: {difference:.2e} "
      f"(feature std {features[DGM_EVAL].std():.2f}).",
  ])


def main() -> None:
  parser = report.throughput_parser(__doc__.split("\n\n")[0], 8,
                                    "batch 2, a toy ViT on 56x56 inputs",
                                    "dinov2_cost_<cpu or gpu>.md")
  parser.add_argument("--image_size", type=int, default=128)
  args = parser.parse_args()
  if args.small:
    table = run(batch_size=2, image_size=32, config=SMALL, input_size=56, budget_s=0.0)
  else:
    table = run(args.batch_size, args.image_size)
  command = "python -m benchmarks.dinov2_cost " + (
      "--small" if args.small else f"--batch_size {args.batch_size} "
      f"--image_size {args.image_size}")
  report.write_unless_small(
      args, os.path.join(report.RESULTS_DIR,
                         f"dinov2_cost_{'gpu' if fid_throughput.on_gpu() else 'cpu'}.md"),
      "FD_DINOv2 features: ours against dgm-eval's path", command, table)


if __name__ == "__main__":
  main()
