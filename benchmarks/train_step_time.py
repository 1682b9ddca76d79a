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

import importlib
import os
import re
import statistics
import sys
import time
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import jax
import numpy as np
from absl import app, flags

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from an_flax.runtime import xla_cpu  # pylint: disable=g-import-not-at-top
xla_cpu.use()  # before JAX compiles: the options train.py runs with

from an_flax.inpainting import steps as inpainting_steps  # pylint: disable=g-import-not-at-top
from an_flax.models import build_models  # pylint: disable=g-import-not-at-top
from an_flax.runtime import hardware, mesh as mesh_lib, update_loop
from an_flax.training import state as state_lib
from an_flax.training import steps
from benchmarks import report, timing

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

# Table 4: (name, our config and overrides, batch, StudioGAN's constructor arguments).
PYTORCH_SETTINGS = (
    ("SN-GAN ResNet 32x32", "cifar10_sngan",
     {"model.g_ch": 64, "model.d_ch": 64, "optim.d_steps": 1}, 16,
     {"img_size": 32, "num_classes": 10, "g_conv_dim": 16, "d_conv_dim": 32}),
    ("SN-GAN ResNet 128x128", "imagenet128_sngan", {"optim.d_steps": 1}, 4,
     {"img_size": 128, "num_classes": 1000, "g_conv_dim": 64, "d_conv_dim": 64}),
)


def shipped_config(name: str, overrides: Dict[str, Any], batch_size: int):
  config = importlib.import_module(f"configs.{name}").get_config()
  config.batch_size = batch_size
  config.update_from_flattened_dict(overrides)
  return config


class OurStep:
  """A shipped config's compiled step on all local devices, on one fixed random batch.

  `models`: (G, D) to train instead of the config's (benchmarks/biggan_cost.py).
  """

  def __init__(self, config, d_loop: Optional[str] = None, models: Optional[Tuple] = None):
    self.config = config
    mesh = mesh_lib.create_mesh(jax.local_devices())
    generator, discriminator = models or build_models(config.model)
    g_tx, d_tx = state_lib.make_optimizers(config)
    self.state = jax.jit(lambda key: state_lib.create_train_state(
        config, generator, discriminator, g_tx, d_tx, key),
                         out_shardings=mesh_lib.replicated(mesh))(jax.random.PRNGKey(0))
    size, d_steps, batch = config.model.resolution, config.optim.d_steps, config.batch_size
    rng = np.random.default_rng(0)
    self.batch = mesh_lib.global_batch({
        "image": rng.integers(0, 256, (d_steps, batch, size, size, 3), np.uint8),
        "label": rng.integers(0, config.model.num_classes, (d_steps, batch), np.int32),
    }, mesh, batch_dim=1)
    jitted = steps.make_train_step(config, generator, discriminator, g_tx, d_tx, mesh, d_loop)
    start = time.perf_counter()
    lowered = jitted.lower(self.state, self.batch)
    self.convolutions = lowered.as_text().count("stablehlo.convolution")
    self.compiled = lowered.compile()
    self.compile_s = time.perf_counter() - start
    self.flops = hardware.step_flops(self.compiled)

  def __call__(self) -> Any:
    self.state, metrics = self.compiled(self.state, self.batch)
    return metrics

  def parameters(self) -> Tuple[int, int]:
    count = lambda tree: sum(x.size for x in jax.tree.leaves(tree))
    return count(self.state.g_params), count(self.state.d_params)


class InpaintingStep:
  """An inpainting config's compiled step on one device, on one fixed random batch."""

  def __init__(self, config, critic_loop: str):
    mesh = mesh_lib.create_mesh(jax.local_devices()[:1])
    generator, critics = inpainting_steps.build_models(config)
    g_tx, d_tx = inpainting_steps.make_optimizers(config)
    self.state = jax.jit(lambda: inpainting_steps.create_state(
        config, generator, critics, g_tx, d_tx, jax.random.PRNGKey(config.seed)),
                         out_shardings=mesh_lib.replicated(mesh))()
    size = config.dataset.image_size
    images = np.random.default_rng(0).integers(
        0, 256, (config.optim.critic_steps + 1, config.batch_size, size, size, 3), np.uint8)
    self.batch = mesh_lib.global_batch({"image": images}, mesh, batch_dim=1)
    jitted = inpainting_steps.make_train_step(config, generator, critics, g_tx, d_tx, mesh,
                                              critic_loop)
    start = time.perf_counter()
    self.compiled = jitted.lower(self.state, self.batch, {}).compile()
    self.compile_s = time.perf_counter() - start

  def __call__(self) -> Any:
    self.state, metrics = self.compiled(self.state, self.batch, {})
    return metrics


def median_step(step: Callable[[], Any], repeats: int) -> float:
  jax.block_until_ready(step())  # the first call after compiling is not timed
  times = []
  for _ in range(repeats):
    start = time.perf_counter()
    jax.block_until_ready(step())
    times.append(time.perf_counter() - start)
  return statistics.median(times)


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


def _torch_step(config, constructor: Dict[str, Any]) -> Tuple[Callable[[], Any], int, int]:
  # Imported here: tables 1 and 2 run where torch is not installed (requirements.txt).
  from benchmarks.pytorch import studiogan, train_step as torch_train_step  # pylint: disable=g-import-not-at-top
  generator, discriminator = studiogan.sngan(**constructor)
  count = lambda model: sum(p.numel() for p in model.parameters())
  step = torch_train_step.make_step(
      generator, discriminator, batch_size=config.batch_size, z_dim=config.model.z_dim,
      num_classes=config.model.num_classes, image_size=config.model.resolution,
      d_steps=config.optim.d_steps, g_lr=config.optim.g_lr, d_lr=config.optim.d_lr,
      betas=(config.optim.b1, config.optim.b2))
  return step, count(generator), count(discriminator)


def pytorch_table() -> str:
  import torch  # pylint: disable=g-import-not-at-top
  torch.set_num_threads(os.cpu_count() or 1)
  lines = ["| model | batch | G params | D params | ours: compile (s) | ours (ms) | "
           "StudioGAN PyTorch (ms) | PyTorch / ours |", "|---|---|---|---|---|---|---|---|"]
  for name, config_name, overrides, batch, constructor in PYTORCH_SETTINGS:
    ours = OurStep(shipped_config(config_name, overrides, batch))
    theirs, g, d = _torch_step(ours.config, constructor)
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
