r"""Evaluates a class-conditional GAN checkpoint: `python eval.py --config CONFIG --workdir DIR`.

Modes (`--mode`):
  metrics    (default) scores of the newest checkpoint (or `--checkpoint_step`) ->
             `<workdir>/eval_<step>.json`. `eval.feature_network='inception'`: FID, IS and,
             with `eval.reference_class_stats`, intra-FID; 'shapes' (symmetric_shapes, the
             default config's): Frechet distance, class accuracy, precision / recall /
             density / coverage and mirror / tile consistency in the shipped classifier's
             features, against the test split, no download.
  reference  Inception statistics of the real images of `eval.reference_split`, written to
             `eval.reference_stats` (and `eval.reference_class_stats` when set). Once per
             dataset, split and Inception weights; needs no checkpoint.
  samples    Sample sheets, interpolations and `samples.npz` -> `<workdir>/samples_<step>/`;
             needs no dataset and no Inception weights.

The config is the training run's (its `eval` fields set the protocol); override fields
on the command line, e.g. `--config.eval.num_samples=10000`. Runs in one process on all
of its devices. Reads checkpoints without changing them: it can run beside training.
"""

import shlex
import sys

from absl import app, flags
from ml_collections import config_flags

from an_flax.evaluation import evaluate, reference, samples
from an_flax.runtime import launch
from an_flax.training.config import validate_config

_CONFIG = config_flags.DEFINE_config_file("config", None, "Config of the run.", lock_config=True)
_WORKDIR = flags.DEFINE_string("workdir", None, "The training run's directory (checkpoints).")
_MODE = flags.DEFINE_enum("mode", "metrics", ["metrics", "reference", "samples"],
                          "What to compute (see the module docstring).")
_STEP = flags.DEFINE_integer("checkpoint_step", None, "Checkpoint to evaluate (default: newest).")
flags.mark_flags_as_required(["config"])


def _reference_command() -> str:
  """The command that writes the reference statistics for this config."""
  config_file = config_flags.get_config_filename(flags.FLAGS["config"])
  overrides = [arg for arg in sys.argv[1:] if arg.startswith("--config.")]
  return shlex.join(["python", "eval.py", f"--config={config_file}", *overrides,
                     "--mode=reference"])


def main(argv: list[str]) -> None:
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
  launch.start()
  config = _CONFIG.value
  validate_config(config, training=False)
  if _MODE.value == "reference":
    reference.write_reference(config)
    return
  if not _WORKDIR.value:
    raise app.UsageError(f"--mode={_MODE.value} needs --workdir (the training run's).")
  if _MODE.value == "metrics":
    evaluate.evaluate_checkpoint(config, _WORKDIR.value, _STEP.value, _reference_command())
  else:
    samples.write_samples(config, _WORKDIR.value, _STEP.value)


if __name__ == "__main__":
  launch.run(main)
