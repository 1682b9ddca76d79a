"""Semantic image inpainting with Attentive Normalization (the paper's second task).

  python inpaint.py train    --config configs/inpainting/inpaint_default.py --workdir DIR
  python inpaint.py evaluate --config configs/inpainting/inpaint_default.py --workdir DIR
  python inpaint.py fill     --config configs/inpainting/inpaint_default.py --workdir DIR \
      --image photo.png --mask mask.png --output filled.png

`train` resumes from the newest checkpoint in DIR and saves on SIGTERM. `evaluate`
writes PSNR / SSIM / L1 with centred (and fixed free-form) holes to
DIR/eval/step_<step>.json. `fill` inpaints the white pixels of a binary mask PNG.
Override config fields on the command line, e.g. `--config.num_train_steps=100`.
Several processes: as train.py (--coordinator_address, --num_processes, --process_id).
"""

from absl import app, flags
from ml_collections import config_flags

from an_flax.inpainting.evaluation import evaluate
from an_flax.inpainting.fill import fill
from an_flax.inpainting.task import InpaintingTask
from an_flax.runtime import launch, run

COMMANDS = ("train", "evaluate", "fill")
_CONFIG = config_flags.DEFINE_config_file("config", None, "Inpainting config file.",
                                          lock_config=True)
_WORKDIR = flags.DEFINE_string("workdir", None, "Directory for checkpoints, logs and pictures.")
_IMAGE = flags.DEFINE_string("image", None, "fill: the picture to inpaint.")
_MASK = flags.DEFINE_string("mask", None, "fill: binary PNG of the picture's size, white = hole.")
_OUTPUT = flags.DEFINE_string("output", None, "fill: where to write the inpainted PNG.")
flags.mark_flags_as_required(["config", "workdir"])


def main(argv: list[str]) -> None:
  if len(argv) != 2 or argv[1] not in COMMANDS:
    raise app.UsageError(f"Give one command, {' | '.join(COMMANDS)}; got {argv[1:]}.")
  command = argv[1]
  launch.start()
  config, workdir = _CONFIG.value, _WORKDIR.value
  if command == "train":
    run.run_training(InpaintingTask(config), workdir)
  elif command == "evaluate":
    print(evaluate(config, workdir)["results"])
  else:
    missing = [f"--{name}" for name, flag in (("image", _IMAGE), ("mask", _MASK),
                                               ("output", _OUTPUT)) if not flag.value]
    if missing:
      raise app.UsageError(f"fill needs {' '.join(missing)}.")
    print(fill(config, workdir, _IMAGE.value, _MASK.value, _OUTPUT.value))


if __name__ == "__main__":
  launch.run(main)
