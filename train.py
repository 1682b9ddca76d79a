"""Trains a class-conditional GAN: `python train.py --config configs/default.py --workdir DIR`.

Override any config field on the command line, e.g. `--config.batch_size=64`.
A run resumes from the newest checkpoint in `--workdir`.

Several processes (GPU nodes, or CPU processes on one machine): start one per
node with `--coordinator_address=HOST:PORT --num_processes=N --process_id=I`,
or set JAX_COORDINATOR_ADDRESS / use a cluster JAX detects (SLURM, Open MPI,
Kubernetes) with `--distributed`. On Cloud TPU pods `--distributed` alone.
"""

import logging as std_logging

import jax
from absl import app, flags, logging
from ml_collections import config_flags

from an_flax.training import mesh
from an_flax.training.trainer import train_and_evaluate

_CONFIG = config_flags.DEFINE_config_file("config", None, "Training config file.", lock_config=True)
_WORKDIR = flags.DEFINE_string("workdir", None, "Directory for checkpoints, logs and pictures.")
_DISTRIBUTED = flags.DEFINE_bool(
    "distributed", False, "Call jax.distributed.initialize() (implied by --coordinator_address).")
_COORDINATOR = flags.DEFINE_string("coordinator_address", None, "HOST:PORT of process 0.")
_NUM_PROCESSES = flags.DEFINE_integer("num_processes", None, "Number of processes in the job.")
_PROCESS_ID = flags.DEFINE_integer("process_id", None, "This process's index in the job.")
flags.mark_flags_as_required(["config", "workdir"])


def _quiet_orbax(record: std_logging.LogRecord) -> bool:
  """Orbax logs each save in dozens of INFO lines; keep its warnings only."""
  return record.levelno >= std_logging.WARNING or "/orbax/" not in record.pathname


def main(argv: list[str]) -> None:
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
  logging.get_absl_handler().addFilter(_quiet_orbax)
  if _DISTRIBUTED.value or _COORDINATOR.value:
    mesh.initialize_distributed(_COORDINATOR.value, _NUM_PROCESSES.value, _PROCESS_ID.value)
  logging.info("Devices: %s", jax.devices())
  train_and_evaluate(_CONFIG.value, _WORKDIR.value)


if __name__ == "__main__":
  app.run(main)
