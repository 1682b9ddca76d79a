"""The paper's claim at small scale: does AN help a class-conditional GAN, against SA-GAN
self-attention and against no non-local module, on the embedded `symmetric_shapes`?

  python -m benchmarks.nonlocal_study [--variants=an16,an32,sa16,none] [--seeds=0,1,2]
      [--root=runs/nonlocal_study] [--extra="--config.num_train_steps=1600"] [--output=FILE]

Every variant is `configs/default.py` (its architecture, steps, optimiser and EMA) with
the non-local module swapped. A variant is named `<short><resolution>[_ortho<weight>]`
for any kind of the registry (`an_flax.models.non_local.KINDS`: `an`, `sa`, ...), or
`none`: the module sits after G's block and after D's first block of that output
resolution, or inside D's block whose convolutions run there when D has no such output
and the kind may sit inside blocks (AN at 32x32); `_ortho<weight>` sets
`loss.orthogonal_weight` (the default is 1e-5). The default variants: AN at 16x16 (the
default config) and 32x32, SA-GAN self-attention at 16x16, none, and AN at 16x16 with
the weight at 1e-4 and 0.
Each (variant, seed) is one `train.py` run in `<root>/<variant>_seed<seed>`; a run
that finished before is read, not repeated, so the study resumes where it stopped. Its
scores are the shapes metrics of G_ema at the last step (the `shapes` evaluator, from the
run's TensorBoard events): Frechet distance in the shipped classifier's features, class
accuracy, precision / recall (k = 3), density / coverage (k = 5) and the mirror / tile
consistency error in uint8 levels (the real test images' own: `real`). Also per variant:
parameters, the median time of the train step at the default batch (timed alone after the
runs, as benchmarks/train_step_time.py times it), its device memory (XLA's memory analysis
of the compiled step) and the run's peak resident memory. The table gives mean +- standard
deviation over the seeds.
"""

import argparse
import dataclasses
import os
import re
import subprocess
import sys
from typing import Any, Dict, List, Tuple

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

# pylint: disable=g-import-not-at-top,wrong-import-position
from an_flax.models import non_local, resnet_gan
from benchmarks import report
from configs import default
# pylint: enable=g-import-not-at-top,wrong-import-position

DEFAULT_VARIANTS = ("an16", "an32", "sa16", "none", "an16_ortho1e-4", "an16_ortho0")
Placement = Tuple[str, Tuple[int, ...], bool]  # (kind, resolutions, inside_blocks)
_NAME = re.compile(r"^(?P<short>[a-z]+?)(?P<resolution>\d+)(_ortho(?P<weight>[0-9.e+-]+))?$")


@dataclasses.dataclass(frozen=True)
class Variant:
  label: str
  g: Placement
  d: Placement
  overrides: Dict[str, Any]


def _d_placement(kind: str, resolution: int) -> Placement:
  """After D's first block that outputs `resolution`, else inside the one whose
  convolutions run there (when the kind may sit inside blocks)."""
  model = default.get_config().model
  stages = resnet_gan.discriminator_resolutions(
      model.resolution, len(model.d_multipliers),
      model.d_final_resolution or (8 if model.resolution == 32 else 4))
  inside = (non_local.KINDS[kind].inside_blocks
            and resolution not in [out for _, out in stages])
  return kind, (resolution,), inside


def parse_variant(name: str) -> Variant:
  """The variant `name` stands for (see the module docstring); ValueError if none."""
  if name == non_local.NONE:
    nothing = (non_local.NONE, (), False)
    return Variant("no non-local module", nothing, nothing, {})
  match = _NAME.match(name)
  kinds = {kind.short: key for key, kind in non_local.KINDS.items()}
  if not match or match["short"] not in kinds:
    raise ValueError(f"Unknown variant {name!r}: use <short><resolution>[_ortho<weight>] "
                     f"with a short name of {sorted(kinds)}, or 'none'.")
  kind, resolution = kinds[match["short"]], int(match["resolution"])
  g, d = (kind, (resolution,), False), _d_placement(kind, resolution)
  model = default.get_config().model
  is_default = all(model[field].kind == placed[0]
                   and tuple(model[field].resolutions) == placed[1]
                   and model[field].inside_blocks == placed[2]
                   for field, placed in (("g_nonlocal", g), ("d_nonlocal", d)))
  label = f"{non_local.KINDS[kind].label} at {resolution}x{resolution}"
  overrides = {}
  if match["weight"] is not None:
    overrides["loss.orthogonal_weight"] = float(match["weight"])
    label += (", no orthogonality penalty" if float(match["weight"]) == 0
              else f", orthogonality weight {match['weight']}")
  elif is_default:
    label += " (default)"
  return Variant(label, g, d, overrides)


STEP_REPEATS = 20
SCORES = ("frechet_distance", "class_accuracy", "precision", "recall", "density", "coverage",
          "consistency_error_mirror", "consistency_error_tile")


def _nonlocal_flags(field: str, spec) -> List[str]:
  kind, resolutions, inside = spec
  if kind == "none":  # where does not matter (and an empty tuple is no flag value)
    return [f"--config.model.{field}.kind=none"]
  return [f"--config.model.{field}.kind={kind}",
          f"--config.model.{field}.resolutions={','.join(map(str, resolutions))}",
          f"--config.model.{field}.inside_blocks={inside}"]


def run_flags(variant: str, seed: int, extra: List[str]) -> List[str]:
  spec = parse_variant(variant)
  return [f"--config.seed={seed}", *_nonlocal_flags("g_nonlocal", spec.g),
          *_nonlocal_flags("d_nonlocal", spec.d),
          *(f"--config.{field}={value}" for field, value in spec.overrides.items()), *extra]


def read_scalars(workdir: str) -> Dict[str, Dict[int, float]]:
  """{tag: {step: value}} of a run's TensorBoard scalars."""
  from tensorboard.backend.event_processing import event_accumulator  # pylint: disable=g-import-not-at-top
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  values: Dict[str, Dict[int, float]] = {}
  for name in sorted(os.listdir(workdir)):
    if not name.startswith("events.out.tfevents"):
      continue
    accumulator = event_accumulator.EventAccumulator(os.path.join(workdir, name),
                                                     size_guidance={"tensors": 0})
    accumulator.Reload()
    for tag in accumulator.Tags()["tensors"]:
      for event in accumulator.Tensors(tag):
        value = tf.make_ndarray(event.tensor_proto)
        if value.ndim == 0 and value.dtype.kind == "f":  # scalars, not images or text
          values.setdefault(tag, {})[event.step] = float(value)
  return values


def train(workdir: str, flags: List[str]) -> None:
  """Runs train.py unless it finished before; `<workdir>/finished` holds its peak resident KiB."""
  if os.path.exists(os.path.join(workdir, "finished")):
    return
  os.makedirs(workdir, exist_ok=True)
  with open(os.path.join(workdir, "train.log"), "w") as log:
    process = subprocess.Popen(
        [sys.executable, os.path.join(REPO, "train.py"),
         f"--config={os.path.join(REPO, 'configs', 'default.py')}", f"--workdir={workdir}",
         *flags], cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
    _, status, usage = os.wait4(process.pid, 0)
  if os.waitstatus_to_exitcode(status) != 0:
    raise RuntimeError(f"train.py failed in {workdir}: see its train.log.")
  with open(os.path.join(workdir, "finished"), "w") as f:
    f.write(str(usage.ru_maxrss))


def step_cost(variant: str) -> tuple:
  """(median step seconds, device bytes of the compiled step, G and D parameters) of a
  variant's train step at the default batch, timed alone after the runs."""
  from benchmarks import compiled_step  # pylint: disable=g-import-not-at-top
  spec = parse_variant(variant)
  overrides = dict(spec.overrides)
  for field, (kind, resolutions, inside) in (("g_nonlocal", spec.g), ("d_nonlocal", spec.d)):
    overrides.update({f"model.{field}.kind": kind, f"model.{field}.resolutions": resolutions,
                      f"model.{field}.inside_blocks": inside})
  config = compiled_step.shipped_config("default", overrides, 16)
  step = compiled_step.OurStep(config)
  memory = step.compiled.memory_analysis()
  total = (memory.temp_size_in_bytes + memory.argument_size_in_bytes
           + memory.output_size_in_bytes - memory.alias_size_in_bytes)
  seconds = compiled_step.median_step(step, STEP_REPEATS)
  return seconds, total, step.parameters()


def _cell(values: List[float], digits: int) -> str:
  return f"{np.mean(values):.{digits}f} +- {np.std(values):.{digits}f}"


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--variants", default=",".join(DEFAULT_VARIANTS))
  parser.add_argument("--seeds", default="0,1,2")
  parser.add_argument("--root", default=os.path.join(REPO, "runs", "nonlocal_study"))
  parser.add_argument("--output", default=os.path.join(report.RESULTS_DIR,
                                                       "nonlocal_study_cpu.md"))
  parser.add_argument("--extra", default="", help="More train.py flags for every run.")
  args = parser.parse_args()
  variants, seeds = args.variants.split(","), [int(s) for s in args.seeds.split(",")]
  extra = args.extra.split()
  rows, real = [], None
  for variant in variants:
    scores: Dict[str, List[float]] = {s: [] for s in SCORES}
    peaks = []
    for seed in seeds:
      workdir = os.path.join(args.root, f"{variant}_seed{seed}")
      print(f"{variant} seed {seed}: {workdir}", flush=True)
      train(workdir, run_flags(variant, seed, extra))
      with open(os.path.join(workdir, "finished")) as f:
        peaks.append(int(f.read()) / 2**20)
      scalars = read_scalars(workdir)
      last = max(scalars["shapes/frechet_distance"])
      for score in SCORES:
        scores[score].append(scalars[f"shapes/{score}"][last])
      real = scalars["shapes/real_consistency_error"][last]
    seconds, memory, (g_params, d_params) = step_cost(variant)
    rows.append(f"| {parse_variant(variant).label} | {g_params:,} / {d_params:,} | "
                f"{seconds * 1000:.0f} | {memory / 2**20:.0f} | "
                f"{np.mean(peaks):.1f} | "
                + " | ".join(_cell(scores[s], 3 if "consistency" not in s and s !=
                                   "frechet_distance" else 1) for s in SCORES) + " |")
    print(rows[-1], flush=True)
  header = ("| non-local module | G / D params | step (ms) | step device memory (MiB) | "
            "peak RSS (GiB) | Frechet distance | class accuracy | precision | recall | "
            "density | coverage | consistency mirror | consistency tile |\n"
            "|" + "---|" * 13)
  text = (f"{len(seeds)} seeds ({args.seeds}) per variant, `configs/default.py` otherwise"
          f"{' with ' + args.extra if args.extra else ''}; scores of G_ema at the last step "
          f"against the 1000 real test images (mean +- std over seeds). The real images' "
          f"own consistency error: {real:.2f} (mirror and tile together). Lower is better "
          "for the Frechet distance and the consistency errors, higher for the rest.\n\n"
          + header + "\n" + "\n".join(rows))
  report.write(args.output, "AN against self-attention and no non-local module, small "
               "scale", "python -m benchmarks.nonlocal_study " + " ".join(sys.argv[1:]), text)


if __name__ == "__main__":
  main()
