"""Trains a class-conditional GAN: `python train.py --config configs/default.py --workdir DIR`.

Override any config field on the command line, e.g. `--config.batch_size=64`.
A run resumes from the newest checkpoint in `--workdir`.

Several processes (GPU nodes, or CPU processes on one machine): start one per
node with `--coordinator_address=HOST:PORT --num_processes=N --process_id=I`,
or set JAX_COORDINATOR_ADDRESS / use a cluster JAX detects (SLURM, Open MPI,
Kubernetes) with `--distributed`. On Cloud TPU pods `--distributed` alone
(the flags: an_flax/runtime/launch.py).
"""

from absl import app, flags
from ml_collections import config_flags

from an_flax.evaluation import evaluators
from an_flax.runtime import launch, run
from an_flax.training.task import GanTask

_CONFIG = config_flags.DEFINE_config_file("config", None, "Training config file.", lock_config=True)
_WORKDIR = flags.DEFINE_string("workdir", None, "Directory for checkpoints, logs and pictures.")
flags.mark_flags_as_required(["config", "workdir"])


def main(argv: list[str]) -> None:
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
  launch.start()
  task = GanTask(_CONFIG.value)
  run.run_training(task, _WORKDIR.value, lambda mesh: evaluators.build(
      task.config, mesh, task.generator, training=True))


if __name__ == "__main__":
  launch.run(main)
