"""BigGAN's compiled training step with self-attention and with AN: time and XLA's memory.

  python benchmarks/biggan_cost.py [--batch_size=2] [--ch=96] [--resolution=128]
      [--num_classes=1000] [--d_steps=1] [--repeats=3] [--output=FILE]

The rows are the shipped configs' steps (`an_flax.training.steps.make_train_step`):
"BigGAN" `configs/studiogan/imagenet128_biggan.py` (StudioGAN's ImageNet BigGAN-256:
self-attention after G's and D's 64x64 blocks, ch 96, z_dim 120, 1000 classes) and
"BigGAN-AN" `configs/imagenet128_biggan_an.py` (AttentiveNorm in the same places), with the
batch, the D steps per G step, and optionally the width and class count of the flags, on one
fixed random batch on all local devices. `--resolution=16` shrinks both to three blocks
(the non-local module at 8x8) for a smoke run. Per row: parameters, compile time, the
median step after compilation, and the executable's memory as XLA plans it
(`compiled.memory_analysis()`): temporaries, and in total arguments + outputs +
temporaries - donated (aliased) buffers. Written to benchmarks/results/biggan_cost_<device>.md
(or --output).
"""

import argparse
import os
import re
import sys
from typing import Any, Dict

import jax

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from an_flax.runtime import xla_cpu  # pylint: disable=g-import-not-at-top
xla_cpu.use()  # before JAX compiles: the options train.py runs with

from benchmarks import compiled_step, report  # pylint: disable=g-import-not-at-top

VARIANTS = (("BigGAN", "studiogan.imagenet128_biggan"), ("BigGAN-AN", "imagenet128_biggan_an"))
# Resolution -> the fields that resize the 128x128 configs (z in chunks of 20 per G block).
RESOLUTIONS: Dict[int, Dict[str, Any]] = {
    128: {},
    16: {"model.resolution": 16, "dataset.image_size": 16, "model.z_dim": 60,
         "model.g_multipliers": (4, 4, 4), "model.d_multipliers": (2, 2, 2),
         "model.g_nonlocal.resolutions": (8,), "model.d_nonlocal.resolutions": (8,)},
}


def config(name: str, resolution: int, ch: int, num_classes: int, batch_size: int,
           d_steps: int):
  """The shipped config `name` with the benchmark's sizes."""
  return compiled_step.shipped_config(name, {
      **RESOLUTIONS[resolution], "model.g_ch": ch, "model.d_ch": ch,
      "model.num_classes": num_classes, "optim.d_steps": d_steps}, batch_size)


def run(resolution: int, ch: int, num_classes: int, batch_size: int, d_steps: int,
        repeats: int) -> str:
  """The markdown table, a row per variant and the AN / self-attention ratios."""
  lines = ["| network | config | G params | D params | compile (s) | step (ms) | "
           "temporaries (MiB) | total (MiB) |", "|---|---|---|---|---|---|---|---|"]
  measured = []
  for name, config_name in VARIANTS:
    step = compiled_step.OurStep(
        config(config_name, resolution, ch, num_classes, batch_size, d_steps))
    memory = step.compiled.memory_analysis()
    total = (memory.argument_size_in_bytes + memory.output_size_in_bytes
             + memory.temp_size_in_bytes - memory.alias_size_in_bytes)
    seconds = compiled_step.median_step(step, repeats)
    g, d = step.parameters()
    measured.append((seconds, memory.temp_size_in_bytes, total))
    lines.append(f"| {name} | {config_name} | {g:,} | {d:,} | {step.compile_s:.1f} | "
                 f"{1000 * seconds:.0f} | {memory.temp_size_in_bytes / 2**20:.0f} | "
                 f"{total / 2**20:.0f} |")
    print(lines[-1], flush=True)
  (sa_s, sa_temp, sa_total), (an_s, an_temp, an_total) = measured
  lines.append(f"\nBigGAN-AN / BigGAN: step {an_s / sa_s:.2f}x, temporaries "
               f"{an_temp / sa_temp:.2f}x, total memory {an_total / sa_total:.2f}x.")
  return "\n".join(lines)


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--batch_size", type=int, default=2, help="Global batch per D step.")
  parser.add_argument("--ch", type=int, default=96, help="G's and D's width (BigGAN: 96).")
  parser.add_argument("--resolution", type=int, default=128, choices=sorted(RESOLUTIONS))
  parser.add_argument("--num_classes", type=int, default=1000)
  parser.add_argument("--d_steps", type=int, default=1, help="D updates per G update "
                      "(BigGAN-PyTorch: 1, the configs' StudioGAN BigGAN-256: 2).")
  parser.add_argument("--repeats", type=int, default=3,
                      help="Timed steps after the compile; the median counts.")
  parser.add_argument("--output", default=None, help="The results file (default: see above).")
  args = parser.parse_args()
  device = jax.devices()[0].device_kind
  header = (f"Device: {device} ({jax.local_device_count()} device(s)), jax {jax.__version__}, "
            f"{os.cpu_count()} CPU cores. {args.resolution}x{args.resolution}, ch {args.ch}, "
            f"{args.num_classes} classes, batch {args.batch_size} per D step, {args.d_steps} "
            f"D step(s) per G step, float32. Steps: medians of {args.repeats} after "
            "compilation.")
  table = run(args.resolution, args.ch, args.num_classes, args.batch_size, args.d_steps,
              args.repeats)
  slug = re.sub(r"[^a-z0-9]+", "_", device.lower()).strip("_")
  report.write(args.output or os.path.join(report.RESULTS_DIR, f"biggan_cost_{slug}.md"),
               "BigGAN's training step: self-attention against AN",
               "python benchmarks/biggan_cost.py " + " ".join(sys.argv[1:]),
               f"{header}\n\n{table}")


if __name__ == "__main__":
  main()
