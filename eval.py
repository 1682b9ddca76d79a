r"""Evaluates a class-conditional GAN checkpoint: `python eval.py --config CONFIG --workdir DIR`.

Modes (`--mode`):
  metrics    (default) the evaluators of `config.evals` (or those named by `--evals`) score
             the newest checkpoint (or `--checkpoint_step`) -> `<workdir>/eval_<step>.json`
             (with `--follow`, every checkpoint without a record as it lands, beside training):
             'inception' entries their `metrics` (FID, IS, precision / recall / density /
             coverage, KID) and, with `reference_class_stats`, intra-FID; 'dinov2' entries
             FD_DINOv2 (and the same feature metrics); 'shapes' entries (symmetric_shapes,
             the default config's) Frechet distance, class accuracy, precision / recall /
             density / coverage and mirror / tile consistency in the shipped classifier's
             features, against the test split.
  reference  Statistics of the real images of each 'inception' and 'dinov2' entry's
             `reference_split`, written to its `reference_stats` (and
             `reference_class_stats`, `reference_features` when set). Once per dataset,
             split, network and resize mode; needs no checkpoint.
  protocols  The checkpoint scored under every protocol (resize mode x network x IS splits
             and logits), one table -> `<workdir>/protocols_<step>.md` and `.json`
             (`an_flax.evaluation.protocols`).
  samples    Sample sheets, interpolations and `samples.npz` -> `<workdir>/samples_<step>/`;
             needs no dataset and no Inception weights.

The config is the training run's (`config.sampling` and `config.evals` set the protocol);
override fields on the command line, e.g. `--config.evals.fid.num_samples=10000`. Runs on
every device of every process of a job (the flags of train.py: --coordinator_address, ...;
process 0 writes). Reads checkpoints without changing them, holding a lease on the one it
reads so a training run beside it does not delete it meanwhile.
"""

import shlex
import sys

from absl import app, flags
from ml_collections import config_flags

from an_flax.evaluation import evaluate, evaluators, protocols, samples
from an_flax.runtime import launch
from an_flax.training.config import validate_config

_CONFIG = config_flags.DEFINE_config_file("config", None, "Config of the run.", lock_config=True)
_WORKDIR = flags.DEFINE_string("workdir", None, "The training run's directory (checkpoints).")
_MODE = flags.DEFINE_enum("mode", "metrics", ["metrics", "reference", "protocols", "samples"],
                          "What to compute (see the module docstring).")
_STEP = flags.DEFINE_integer("checkpoint_step", None, "Checkpoint to evaluate (default: newest).")
_EVALS = flags.DEFINE_list("evals", None, "Names of config.evals entries (default: all).")
_FOLLOW = flags.DEFINE_bool(
    "follow", False, "--mode=metrics: score each checkpoint without a record as it lands, "
    "oldest first, until the run's last step is scored or the run is over.")
_POLL = flags.DEFINE_float("follow_poll_seconds", 30.0, "--follow: how often to look.")
flags.mark_flags_as_required(["config"])


def _reference_command() -> str:
  """The command that writes the reference statistics for this config."""
  config_file = config_flags.get_config_filename(flags.FLAGS["config"])
  overrides = [arg for arg in sys.argv[1:] if arg.startswith("--config.")]
  return shlex.join(["python", "eval.py", f"--config={config_file}", *overrides,
                     "--mode=reference"])


def _names(config) -> list[str]:
  names = _EVALS.value if _EVALS.value is not None else sorted(config.evals)
  unknown = [name for name in names if name not in config.evals]
  if unknown:
    raise ValueError(f"--evals names {unknown}, which config.evals does not have; it has "
                     f"{sorted(config.evals)}.")
  return names


def main(argv: list[str]) -> None:
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
  launch.start()
  config = _CONFIG.value
  validate_config(config, training=False)
  evaluators.check(config)
  names = _names(config)
  if _MODE.value == "reference":
    evaluators.write_references(config, names)
    return
  if not _WORKDIR.value:
    raise app.UsageError(f"--mode={_MODE.value} needs --workdir (the training run's).")
  if _MODE.value == "metrics" and _FOLLOW.value:
    evaluate.follow(config, _WORKDIR.value, names, _reference_command(), _POLL.value)
  elif _MODE.value == "metrics":
    evaluate.evaluate_checkpoint(config, _WORKDIR.value, _STEP.value, names,
                                 _reference_command())
  elif _MODE.value == "protocols":
    protocols.write_protocols(config, _WORKDIR.value, _STEP.value, names)
  else:
    samples.write_samples(config, _WORKDIR.value, _STEP.value)


if __name__ == "__main__":
  launch.run(main)
