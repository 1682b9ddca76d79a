"""BigGAN's compiled training step with self-attention and with AN: time and XLA's memory.

  python benchmarks/biggan_cost.py [--batch_size=2] [--ch=96] [--resolution=128]
      [--num_classes=1000] [--d_steps=1] [--repeats=3] [--output=FILE]

Both rows train `an_flax.models.biggan`'s G and D (StudioGAN's layers; 128x128: ch 96,
z_dim 120, 1000 classes, as StudioGAN's ImageNet BigGAN and BigGAN-PyTorch's bs256x8 run)
with the project's step (`an_flax.training.steps.make_train_step`; optimiser, loss and EMA
fields of configs/default.py), one fixed random batch on all local devices. "BigGAN" has
self-attention after G's and D's 64x64 blocks (at 32x32: 16x16, StudioGAN's CIFAR-10
BigGAN), "BigGAN-AN" AttentiveNorm (the layer's defaults) in the same places. Per row:
parameters, compile time, the median step after compilation, and the executable's memory
as XLA plans it (`compiled.memory_analysis()`): temporaries, and in total arguments +
outputs + temporaries - donated (aliased) buffers. Written to
benchmarks/results/biggan_cost_<device>.md (or --output).
"""

import argparse
import os
import re
import sys
from typing import Tuple

import jax

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from an_flax.runtime import xla_cpu  # pylint: disable=g-import-not-at-top
xla_cpu.use()  # before JAX compiles: the options train.py runs with

from an_flax.models import biggan  # pylint: disable=g-import-not-at-top
from an_flax.models.blocks import NonLocal
from benchmarks import report, train_step_time

# Resolution -> G multipliers, D multipliers, D's final resolution, the attention's place:
# StudioGAN's ImageNet and CIFAR-10 BigGANs, and a toy size for the test.
ARCHITECTURES = {128: (biggan.G_MULTIPLIERS, biggan.D_MULTIPLIERS, 4, 64),
                 32: ((4, 4, 4, 4), (2, 2, 2, 2), 8, 16),
                 16: ((4, 4, 4), (2, 2, 2), 4, 8)}
VARIANTS = (("BigGAN", "self_attention"), ("BigGAN-AN", "attentive_norm"))


def models(resolution: int, ch: int, num_classes: int, kind: str) -> Tuple:
  """(G, D) of a row: BigGAN at `resolution` with the non-local module `kind`."""
  g_mults, d_mults, final, place = ARCHITECTURES[resolution]
  nonlocal_ = NonLocal(kind=kind, resolutions=(place,))
  return (biggan.Generator(num_classes, ch, multipliers=g_mults, nonlocal_=nonlocal_),
          biggan.discriminator(num_classes, ch, d_mults, final, nonlocal_=nonlocal_))


def _config(resolution: int, num_classes: int, batch_size: int, d_steps: int):
  """configs/default.py's training fields; the model fields the step reads set to BigGAN's
  (z chunks of 20)."""
  g_mults = ARCHITECTURES[resolution][0]
  return train_step_time.shipped_config("default", {
      "model.resolution": resolution, "model.num_classes": num_classes,
      "model.z_dim": 20 * len(g_mults), "optim.d_steps": d_steps}, batch_size)


def run(resolution: int, ch: int, num_classes: int, batch_size: int, d_steps: int,
        repeats: int) -> str:
  """The markdown table, a row per variant and the AN / self-attention ratios."""
  config = _config(resolution, num_classes, batch_size, d_steps)
  lines = ["| network | non-local module | G params | D params | compile (s) | step (ms) | "
           "temporaries (MiB) | total (MiB) |", "|---|---|---|---|---|---|---|---|"]
  measured = []
  for name, kind in VARIANTS:
    step = train_step_time.OurStep(config, models=models(resolution, ch, num_classes, kind))
    memory = step.compiled.memory_analysis()
    total = (memory.argument_size_in_bytes + memory.output_size_in_bytes
             + memory.temp_size_in_bytes - memory.alias_size_in_bytes)
    seconds = train_step_time.median_step(step, repeats)
    g, d = step.parameters()
    measured.append((seconds, memory.temp_size_in_bytes, total))
    lines.append(f"| {name} | {kind} | {g:,} | {d:,} | {step.compile_s:.1f} | "
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
  parser.add_argument("--resolution", type=int, default=128, choices=sorted(ARCHITECTURES))
  parser.add_argument("--num_classes", type=int, default=1000)
  parser.add_argument("--d_steps", type=int, default=1, help="D updates per G update "
                      "(BigGAN-PyTorch: 1, StudioGAN's BigGAN-256: 2).")
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
