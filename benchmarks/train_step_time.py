"""Compile and step times of the training step, and our step against StudioGAN's PyTorch step.

  python benchmarks/train_step_time.py [--configs=default,imagenet128_an] [--batch_size=8]
      [--dtypes=float32,bfloat16] [--repeats=3] [--d_steps_study]
      [--d_steps_config=imagenet128_sngan] [--inpainting_study] [--update_counts=1,5] [--pytorch]
      [--skip_configs] [--output=FILE]

Four tables, written to benchmarks/results/train_step_time_<device>.md (or --output):
  1. every shipped config at `--batch_size` per D step (its model, optimiser and D steps),
     in each of `--dtypes` (default: the config's own): compile time, step time, real
     images/s per device, and the MFU (XLA's FLOPs of the step over its time and the
     device's peak, an_flax/runtime/hardware.py; none on a CPU);
  2. `--d_steps_study`: `--d_steps_config` (default imagenet128_sngan) at 1 and 5 D steps
     (`--update_counts`), the D updates as a `lax.scan` and unrolled: convolutions in the
     lowered program, compile and step time;
  3. `--inpainting_study`: the inpainting default (configs/inpainting/inpaint_default.py)
     at `--batch_size` and 1 and 5 critic updates (`--update_counts`), scanned and
     unrolled: compile and step time;
  4. `--pytorch`: our step against a transcription of StudioGAN's (benchmarks/pytorch/) on
     the same model (parameter counts checked equal), batch and optimiser, the two taking
     turns in one run: the SN-GAN ResNet at 32x32 (G 375,683 / D 265,409 parameters) at
     batch 16 and at 128x128 (G 41,996,931 / D 39,443,137) at batch 4, one D step.
Steps are medians after compilation. On a CPU, PyTorch runs on as many threads as the
machine has cores, as XLA does.
"""

import os
import re
import sys
from typing import List, Sequence

import jax
from absl import app, flags

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from an_flax.runtime import xla_cpu  # pylint: disable=g-import-not-at-top
xla_cpu.use()  # before JAX compiles: the options train.py runs with

from an_flax.runtime import hardware, update_loop  # pylint: disable=g-import-not-at-top
from benchmarks import report, timing
from benchmarks.compiled_step import (PYTORCH_SETTINGS, InpaintingStep, OurStep, median_step,
                                      shipped_config, torch_step)

_CONFIGS = flags.DEFINE_list(
    "configs", ["default", "imagenet128_sngan", "imagenet128_sagan", "imagenet128_an",
                "imagenet128_an_tpu"], "Config modules under configs/ for table 1.")
_BATCH = flags.DEFINE_integer("batch_size", 8, "Global batch per D or critic step in tables 1-3.")
_DTYPES = flags.DEFINE_list("dtypes", [], "Compute dtypes of table 1 (empty: each config's).")
_OUTPUT = flags.DEFINE_string("output", None, "The results file (default: see above).")
_REPEATS = flags.DEFINE_integer("repeats", 5, "Timed steps after the compile; the median counts.")
_SKIP_CONFIGS = flags.DEFINE_bool("skip_configs", False, "Leave table 1 out.")
_D_STEPS_STUDY = flags.DEFINE_bool("d_steps_study", False, "Add table 2.")
_D_STEPS_CONFIG = flags.DEFINE_string("d_steps_config", "imagenet128_sngan",
                                      "The shipped config of table 2.")
_INPAINTING_STUDY = flags.DEFINE_bool("inpainting_study", False, "Add table 3.")
_UPDATE_COUNTS = flags.DEFINE_list("update_counts", ["1", "5"],
                                   "D steps of table 2, critic updates of table 3.")
_PYTORCH = flags.DEFINE_bool("pytorch", False, "Add table 4 (our step against PyTorch's).")
_NOTE = flags.DEFINE_string("note", "", "A line about the machine, written under the tables.")

INPAINTING_CONFIG = "inpainting.inpaint_default"  # table 3, under configs/

def configs_table(names: List[str], dtypes: List[str], batch_size: int, repeats: int) -> str:
  lines = ["| config | res | dtype | G params | D params | D steps | compile (s) | step (ms) "
           "| real images/s per device | MFU |", "|---|---|---|---|---|---|---|---|---|---|"]
  device = jax.devices()[0].device_kind
  for name in names:
    for dtype in dtypes or [None]:
      step = OurStep(shipped_config(name, {"model.dtype": dtype} if dtype else {}, batch_size))
      seconds = median_step(step, repeats)
      g, d = step.parameters()
      config = step.config
      mfu = hardware.model_flops_utilization(step.flops, seconds, device, config.model.dtype)
      per_device = config.optim.d_steps * batch_size / seconds / jax.local_device_count()
      lines.append(f"| {name} | {config.model.resolution} | {config.model.dtype} | {g:,} | "
                   f"{d:,} | {config.optim.d_steps} | {step.compile_s:.1f} | "
                   f"{1000 * seconds:.0f} | {per_device:.1f} | "
                   f"{f'{100 * mfu:.1f}%' if mfu is not None else 'n/a'} |")
      print(lines[-1], flush=True)
  return "\n".join(lines)


def d_steps_table(name: str, batch_size: int, repeats: int, counts: Sequence[int]) -> str:
  lines = ["| D steps | D updates | convolutions (lowered) | compile (s) | step (ms) |",
           "|---|---|---|---|---|"]
  for d_steps in counts:
    for d_loop in update_loop.LOOPS:
      step = OurStep(shipped_config(name, {"optim.d_steps": d_steps}, batch_size), d_loop)
      seconds = median_step(step, repeats)
      lines.append(f"| {d_steps} | {d_loop} | {step.convolutions} | {step.compile_s:.1f} | "
                   f"{1000 * seconds:.0f} |")
      print(lines[-1], flush=True)
  return "\n".join(lines)


def inpainting_table(batch_size: int, repeats: int, counts: Sequence[int]) -> str:
  lines = ["| critic updates | how they run | compile (s) | step (ms) |", "|---|---|---|---|"]
  for critic_steps in counts:
    for critic_loop in update_loop.LOOPS:
      step = InpaintingStep(shipped_config(INPAINTING_CONFIG, {"optim.critic_steps": critic_steps},
                                           batch_size), critic_loop)
      seconds = median_step(step, repeats)
      lines.append(f"| {critic_steps} | {critic_loop} | {step.compile_s:.1f} | "
                   f"{1000 * seconds:.0f} |")
      print(lines[-1], flush=True)
  return "\n".join(lines)


def pytorch_table() -> str:
  import torch  # pylint: disable=g-import-not-at-top
  torch.set_num_threads(os.cpu_count() or 1)
  lines = ["| model | batch | G params | D params | ours: compile (s) | ours (ms) | "
           "StudioGAN PyTorch (ms) | PyTorch / ours |", "|---|---|---|---|---|---|---|---|"]
  for name, config_name, overrides, batch, constructor in PYTORCH_SETTINGS:
    ours = OurStep(shipped_config(config_name, overrides, batch))
    theirs, g, d = torch_step(ours.config, constructor)
    if (g, d) != ours.parameters():
      raise ValueError(f"{name}: PyTorch G/D have {g:,}/{d:,} parameters, ours "
                       f"{ours.parameters()[0]:,}/{ours.parameters()[1]:,}: not the same model.")
    medians = timing.interleaved_medians({"ours": (ours, ()), "pytorch": (theirs, ())},
                                         min_runs=5, budget_s=20.0)
    lines.append(f"| {name} | {batch} | {g:,} | {d:,} | {ours.compile_s:.1f} | "
                 f"{1000 * medians['ours']:.0f} | {1000 * medians['pytorch']:.0f} | "
                 f"{medians['pytorch'] / medians['ours']:.2f}x |")
    print(lines[-1], flush=True)
  return "\n".join(lines)


def main(argv: list[str]) -> None:
  del argv
  device = jax.devices()[0].device_kind
  header = (f"Device: {device} ({jax.local_device_count()} device(s)), jax {jax.__version__}, "
            f"{os.cpu_count()} CPU cores. Steps: medians after compilation.")
  sections = [header]
  if not _SKIP_CONFIGS.value:
    sections += [f"## Shipped configs, batch {_BATCH.value} per D step (D updates: "
                 f"{update_loop.default_loop()})",
                 configs_table(_CONFIGS.value, _DTYPES.value, _BATCH.value, _REPEATS.value)]
  counts = [int(n) for n in _UPDATE_COUNTS.value]
  if _D_STEPS_STUDY.value:
    sections += [f"## {_D_STEPS_CONFIG.value}, batch {_BATCH.value}: D steps and how they run",
                 d_steps_table(_D_STEPS_CONFIG.value, _BATCH.value, _REPEATS.value, counts)]
  if _INPAINTING_STUDY.value:
    size = shipped_config(INPAINTING_CONFIG, {}, _BATCH.value).dataset.image_size
    sections += [f"## Inpainting default ({size}x{size}), batch {_BATCH.value}: critic updates "
                 "and how they run", inpainting_table(_BATCH.value, _REPEATS.value, counts)]
  if _PYTORCH.value:
    sections += ["## Our step against StudioGAN's PyTorch step (same model, batch, Adam, "
                 "1 D step; taking turns)", pytorch_table()]
  if _NOTE.value:
    sections.append(_NOTE.value)
  slug = re.sub(r"[^a-z0-9]+", "_", device.lower()).strip("_")
  report.write(_OUTPUT.value or os.path.join(report.RESULTS_DIR, f"train_step_time_{slug}.md"),
               "Training step time", "python benchmarks/train_step_time.py "
               + " ".join(sys.argv[1:]), "\n\n".join(sections))


if __name__ == "__main__":
  app.run(main)
