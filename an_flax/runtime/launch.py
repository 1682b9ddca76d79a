"""Start-up shared by the command lines that train (train.py, inpaint.py).

Defines the multi-process flags: one process per host (GPU node, or CPU process on
one machine) with `--coordinator_address=HOST:PORT --num_processes=N --process_id=I`,
or `--distributed` where JAX detects the cluster (Cloud TPU pods, SLURM, Open MPI,
Kubernetes, JAX_COORDINATOR_ADDRESS).
"""

import logging as std_logging

import jax
from absl import flags, logging

from an_flax.runtime import mesh

_DISTRIBUTED = flags.DEFINE_bool(
    "distributed", False, "Call jax.distributed.initialize() (implied by --coordinator_address).")
_COORDINATOR = flags.DEFINE_string("coordinator_address", None, "HOST:PORT of process 0.")
_NUM_PROCESSES = flags.DEFINE_integer("num_processes", None, "Number of processes in the job.")
_PROCESS_ID = flags.DEFINE_integer("process_id", None, "This process's index in the job.")


def _orbax_warnings_only(record: std_logging.LogRecord) -> bool:
  """Orbax logs each save in dozens of INFO lines; keep its warnings only.

  `record.levelno` is a Python level: absl's `logging.WARNING` (1) is not.
  """
  return record.levelno >= std_logging.WARNING or "/orbax/" not in record.pathname


def start() -> None:
  """First call of a main(): quiet Orbax logs, join the job when asked, log the devices."""
  logging.get_absl_handler().addFilter(_orbax_warnings_only)
  if _DISTRIBUTED.value or _COORDINATOR.value:
    mesh.initialize_distributed(_COORDINATOR.value, _NUM_PROCESSES.value, _PROCESS_ID.value)
  logging.info("Devices: %s", jax.devices())
