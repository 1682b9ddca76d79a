"""Where a training step's time goes, ours (XLA) next to StudioGAN's eager PyTorch step.

  python benchmarks/step_profile.py [--setting=32] [--steps=5]

Same model, batch and optimiser as table 3 of benchmarks/train_step_time.py. Ours: a JAX
profiler trace of `--steps` compiled steps; every XLA:CPU thunk (a fusion, convolution,
dot, ...) is attributed to a part of the step through its HLO instruction's op_name, whose
name stack carries the step's `jax.named_scope`s (d_update, g_update, adam, ema, ...),
the networks' module paths and `transpose(...)` for the backward pass. PyTorch: a
`torch.profiler` trace of the same number of steps; each operator's self time goes to the
`record_function` labels around it (benchmarks/pytorch/train_step.py), and the backward
operators to the network whose forward operator they differentiate (autograd sequence
numbers). Each op also gets a kind: convolution, BatchNorm, spectral-norm power iteration
and weight division, or other.

Op times are per step. XLA:CPU may run independent thunks at once on its threads, so its
op times can add up to more than the step's wall time; the last row gives both.
Writes benchmarks/results/step_profile_<device>_<setting>.md.
"""

import collections
import glob
import gzip
import json
import os
import re
import shutil
import sys
import tempfile
import time
from typing import Dict, Tuple

import jax
from absl import app, flags

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks import report  # pylint: disable=g-import-not-at-top
from benchmarks import train_step_time

_SETTING = flags.DEFINE_enum("setting", "32", ["32", "128"],
                             "32: the 32x32 SN-GAN at batch 16; 128: the 128x128 at batch 4.")
_STEPS = flags.DEFINE_integer("steps", 5, "Profiled steps after warm-up.")

PARTS = ("G forward", "G backward", "D forward", "D backward", "Adam", "EMA",
         "real/fake interleave, casts", "finite check", "other")
KINDS = ("convolution", "BatchNorm", "spectral norm", "other")
Profile = Dict[Tuple[str, str], float]  # (part, kind) -> ms per step


def _part_of_op_name(op_name: str) -> str:
  backward = "transpose(" in op_name
  for network, short in (("Generator", "G"), ("Discriminator", "D")):
    if network in op_name:
      if "/adam" in op_name:
        return "Adam"
      return f"{short} {'backward' if backward else 'forward'}"
  for scope, part in (("/adam", "Adam"), ("/ema", "EMA"), ("/interleave", PARTS[6]),
                      ("/finite", "finite check")):
    if scope in op_name:
      return part
  return "other"


def _kind_of_op_name(op_name: str) -> str:
  if "_spectral_normalize" in op_name:
    return "spectral norm"
  if re.search(r"/bn\d?/|BatchNorm", op_name):
    return "BatchNorm"
  if "conv_general_dilated" in op_name:
    return "convolution"
  return "other"


def _entry_op_names(hlo_text: str) -> Dict[str, str]:
  """HLO instruction name -> op_name metadata, for the entry computation (the thunks)."""
  entry = hlo_text[hlo_text.index("\nENTRY"):]
  names = {}
  for match in re.finditer(r"\n\s*(?:ROOT )?%([\w.\-]+) = ([^\n]*)", entry):
    op_name = re.search(r'op_name="([^"]*)"', match.group(2))
    names[match.group(1)] = op_name.group(1) if op_name else ""
  return names


def profile_ours(step: train_step_time.OurStep, steps: int) -> Tuple[Profile, float]:
  """(op ms per step by part and kind, wall ms per step)."""
  for _ in range(2):
    jax.block_until_ready(step())
  folder = tempfile.mkdtemp(prefix="step_profile_")
  try:
    start = time.perf_counter()
    jax.profiler.start_trace(folder, create_perfetto_trace=True)
    for _ in range(steps):
      jax.block_until_ready(step())
    jax.profiler.stop_trace()
    wall = (time.perf_counter() - start) / steps
    [trace] = glob.glob(os.path.join(folder, "plugins", "profile", "*",
                                     "perfetto_trace.json.gz"))
    with gzip.open(trace) as f:
      events = json.load(f)
  finally:
    shutil.rmtree(folder, ignore_errors=True)
  events = events["traceEvents"] if isinstance(events, dict) else events
  op_names = _entry_op_names(step.compiled.as_text())
  found: Profile = collections.defaultdict(float)
  for event in events:
    hlo_op = event.get("args", {}).get("hlo_op")
    if event.get("ph") != "X" or hlo_op is None or event["name"].startswith("end:"):
      continue
    op_name = op_names.get(hlo_op, "")
    found[_part_of_op_name(op_name), _kind_of_op_name(op_name)] += event["dur"] / 1000 / steps
  return found, 1000 * wall


_TORCH_CONVOLUTION = ("convolution", "conv2d", "mkldnn_conv", "_slow_conv2d")
_TORCH_BATCH_NORM = ("batch_norm",)
_TORCH_SPECTRAL = ("aten::mv", "aten::dot", "linalg_vector_norm", "aten::normalize")


def _torch_kind(name: str) -> str:
  lowered = name.lower()
  if any(key in lowered for key in _TORCH_CONVOLUTION):
    return "convolution"
  if any(key in lowered for key in _TORCH_BATCH_NORM):
    return "BatchNorm"
  if any(key in name for key in _TORCH_SPECTRAL):
    return "spectral norm"
  return "other"


def profile_pytorch(step, steps: int) -> Tuple[Profile, float]:
  """(op self ms per step by part and kind, wall ms per step) of the PyTorch step."""
  import torch  # pylint: disable=g-import-not-at-top
  for _ in range(2):
    step()
  with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
    start = time.perf_counter()
    for _ in range(steps):
      step()
    wall = (time.perf_counter() - start) / steps
  events = list(prof.events())
  labels = {"Generator": "G", "Discriminator": "D"}

  def scopes(event) -> list:
    names = []
    while event is not None:
      names.append(event.name)
      event = event.cpu_parent
    return names

  network_of_sequence = {}
  for event in events:
    names = scopes(event)
    network = next((labels[n] for n in names if n in labels), None)
    if network and event.sequence_nr >= 0 and "evaluate_function" not in event.name:
      network_of_sequence.setdefault((event.thread, event.sequence_nr), network)
  found: Profile = collections.defaultdict(float)
  for event in events:
    names = scopes(event)
    if "ema" in names:
      part = "EMA"
    elif "adam" in names:
      part = "Adam"
    elif "backward" in names or any("evaluate_function" in n for n in names):
      function = next((e for e in _ancestors(event) if "evaluate_function" in e.name), None)
      network = network_of_sequence.get((function.fwd_thread, function.sequence_nr)) \
          if function is not None else None
      part = f"{network} backward" if network else "other"
    else:
      network = next((labels[n] for n in names if n in labels), None)
      part = f"{network} forward" if network else "other"
    kind = "other" if event.name in labels or event.name in (
        "d_update", "g_update", "backward", "adam", "ema") else _torch_kind(event.name)
    found[part, kind] += event.self_cpu_time_total / 1000 / steps
  return found, 1000 * wall


def _ancestors(event):
  while event is not None:
    yield event
    event = event.cpu_parent


def table(ours: Profile, ours_wall: float, theirs: Profile, theirs_wall: float) -> str:
  lines = ["| part | ours (ms) | of which conv / BN / SN | PyTorch (ms) | of which conv / BN / "
           "SN | PyTorch / ours |", "|---|---|---|---|---|---|"]
  total = lambda profile, part: sum(profile.get((part, kind), 0.0) for kind in KINDS)
  split = lambda profile, part: " / ".join(f"{profile.get((part, kind), 0.0):.1f}"
                                           for kind in KINDS[:3])
  for part in PARTS:
    a, b = total(ours, part), total(theirs, part)
    ratio = f"{b / a:.2f}x" if a > 0.05 and b > 0.05 else "-"
    lines.append(f"| {part} | {a:.1f} | {split(ours, part)} | {b:.1f} | {split(theirs, part)} "
                 f"| {ratio} |")
  kinds = lambda profile, kind: sum(v for (_, k), v in profile.items() if k == kind)
  for kind in KINDS:
    a, b = kinds(ours, kind), kinds(theirs, kind)
    lines.append(f"| all: {kind} | {a:.1f} | | {b:.1f} | | "
                 f"{f'{b / a:.2f}x' if a > 0.05 and b > 0.05 else '-'} |")
  a, b = sum(ours.values()), sum(theirs.values())
  lines.append(f"| **op time (wall time) per step** | {a:.1f} ({ours_wall:.1f}) | | "
               f"{b:.1f} ({theirs_wall:.1f}) | | {theirs_wall / ours_wall:.2f}x (wall) |")
  return "\n".join(lines)


def main(argv: list[str]) -> None:
  del argv
  import torch  # pylint: disable=g-import-not-at-top
  torch.set_num_threads(os.cpu_count() or 1)
  name, config_name, overrides, batch, constructor = train_step_time.PYTORCH_SETTINGS[
      0 if _SETTING.value == "32" else 1]
  ours = train_step_time.OurStep(train_step_time._config(config_name, overrides, batch))  # pylint: disable=protected-access
  theirs, _, _ = train_step_time._torch_step(ours.config, constructor)  # pylint: disable=protected-access
  ours_profile, ours_wall = profile_ours(ours, _STEPS.value)
  theirs_profile, theirs_wall = profile_pytorch(theirs, _STEPS.value)
  device = jax.devices()[0].device_kind
  text = (f"{name}, batch {batch}, 1 D step; device {device}, {os.cpu_count()} CPU cores, "
          f"jax {jax.__version__}, torch {torch.__version__}; {_STEPS.value} profiled steps "
          "(profilers add overhead: compare the parts, not these walls with "
          "train_step_time's).\n\n" + table(ours_profile, ours_wall, theirs_profile, theirs_wall))
  slug = re.sub(r"[^a-z0-9]+", "_", device.lower()).strip("_")
  report.write(os.path.join(report.RESULTS_DIR, f"step_profile_{slug}_{_SETTING.value}.md"),
               "Where the training step's time goes",
               "python benchmarks/step_profile.py " + " ".join(sys.argv[1:]), text)


if __name__ == "__main__":
  app.run(main)
