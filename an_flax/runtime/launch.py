"""Start-up shared by the command lines (train.py, eval.py, inpaint.py).

`run(main)` replaces `absl.app.run(main)`: a user's mistake (an unknown config field on
the command line, a missing file, a bad config value, a workdir that cannot be used)
ends the program with one message on stderr and exit status 1 (2 for flag errors), no
traceback unless `--traceback` is given; a preempted run exits with
`preemption.PREEMPTED_EXIT_CODE` (143); a process of a multi-process job whose peer was lost
exits with `peers.PEER_LOST_EXIT_CODE` (75). Programming errors keep their traceback.

Multi-process flags: one process per host (GPU node, or CPU process on one machine) with
`--coordinator_address=HOST:PORT --num_processes=N --process_id=I`, or `--distributed`
where JAX detects the cluster (Cloud TPU pods, SLURM, Open MPI, Kubernetes,
JAX_COORDINATOR_ADDRESS); `--heartbeat_timeout_seconds` bounds how long a lost process goes
unnoticed (`an_flax.runtime.peers`).
"""

import logging as std_logging
import os
import re
import sys
from typing import Callable, List, NoReturn

import jax
from absl import app, flags, logging

from an_flax.runtime import peers, xla_cpu
from an_flax.runtime.checkpoints import CheckpointError, CheckpointSaveError
from an_flax.runtime.preemption import PREEMPTED_EXIT_CODE, Preempted
from an_flax.runtime.workdir import WorkdirError

_DISTRIBUTED = flags.DEFINE_bool(
    "distributed", False, "Call jax.distributed.initialize() (implied by --coordinator_address).")
_COORDINATOR = flags.DEFINE_string("coordinator_address", None, "HOST:PORT of process 0.")
_NUM_PROCESSES = flags.DEFINE_integer("num_processes", None, "Number of processes in the job.")
_PROCESS_ID = flags.DEFINE_integer("process_id", None, "This process's index in the job.")
_HEARTBEAT = flags.DEFINE_integer(
    "heartbeat_timeout_seconds", peers.DEFAULT_HEARTBEAT_TIMEOUT_SECONDS,
    "Several processes: a process that sends no heartbeat for this long is lost; the others "
    f"then stop with exit status {peers.PEER_LOST_EXIT_CODE} (restart them all).")
_TRACEBACK = flags.DEFINE_bool("traceback", False,
                               "Show the Python traceback of an error instead of its message.")

# What a user can cause and fix: their messages say how. ValueError covers the config
# checks, Inception / VGG weights and mask errors; OSError missing or unreadable files.
USER_ERRORS = (ValueError, OSError, FloatingPointError, CheckpointError, WorkdirError)
USAGE_EXIT_CODE, ERROR_EXIT_CODE = 2, 1


def _orbax_filter(record: std_logging.LogRecord) -> bool:
  """Orbax logs each save in dozens of INFO lines, and a failed save as tracebacks from
  its threads and asyncio tasks, which the checkpointer re-raises as one message: keep
  Orbax's warnings only.

  `record.levelno` is a Python level: absl's `logging.WARNING` (1) is not.
  """
  if record.name == "asyncio" and "exception was never retrieved" in record.getMessage():
    return False
  return "/orbax/" not in record.pathname or record.levelno == std_logging.WARNING


def _ignore_closed_event_loops(unraisable: "sys.UnraisableHookArgs") -> None:
  """After a failed read TensorStore's callbacks may reach asyncio loops Orbax has already
  closed; Python then prints a traceback that says nothing about the run."""
  if not (isinstance(unraisable.exc_value, RuntimeError)
          and "Event loop is closed" in str(unraisable.exc_value)):
    sys.__unraisablehook__(unraisable)


def start() -> None:
  """First call of a main(): XLA:CPU options, quiet Orbax logs, join the job when asked,
  log the devices."""
  xla_cpu.use()
  logging.get_absl_handler().addFilter(_orbax_filter)
  sys.unraisablehook = _ignore_closed_event_loops
  if _DISTRIBUTED.value or _COORDINATOR.value:
    peers.initialize(_COORDINATOR.value, _NUM_PROCESSES.value, _PROCESS_ID.value,
                     _HEARTBEAT.value)
  logging.info("Devices: %s", jax.devices())


def _fail(message: str, status: int) -> NoReturn:
  program = os.path.basename(sys.argv[0])
  print(f"{program}: error: {message}", file=sys.stderr)
  sys.exit(status)


def _unknown_override(argv: List[str], error: Exception) -> str:
  """The message for a `--config.a.b=v` naming a field the config does not have."""
  key = next(iter(re.findall(r"'(\w+)'", str(error))), "")
  overrides = [arg for arg in argv if arg.startswith("--config.")]
  culprit = next((arg for arg in overrides if re.search(rf"[.]{key}\b", arg.split("=")[0])),
                 overrides[-1] if overrides else "--config")
  return (f"{culprit.split('=')[0]}: the config has no field {key!r} (misspelt, or not used "
          "by this task; see the config file for the fields).")


def _parse_flags(argv: List[str]) -> List[str]:
  try:
    return flags.FLAGS(argv)
  except flags.Error as error:
    _fail(f"{error} (--helpshort lists the flags)", USAGE_EXIT_CODE)
  except (KeyError, AttributeError) as error:
    if "--traceback" in argv:
      raise
    _fail(_unknown_override(argv, error), USAGE_EXIT_CODE)


def _config_file_error(error: OSError) -> str:
  """ml_collections' 'earlier failure to load' as the file that is missing."""
  missing = re.search(r"No such file or directory: '([^']+)'", str(error))
  if missing:
    return f"the config file {missing.group(1)} does not exist."
  return " ".join(str(error).split())


def _joined() -> bool:
  """Whether this process is part of a multi-process job."""
  return bool(_DISTRIBUTED.value or _COORDINATOR.value) and jax.process_count() > 1


def _may_be_a_lost_peer(error: BaseException) -> bool:
  """A failure of a collective, a barrier or a save may be a lost process's doing; a user's
  mistake (a bad config, a missing file) is not."""
  return (isinstance(error, (TimeoutError, CheckpointSaveError))
          or not isinstance(error, (*USER_ERRORS, KeyboardInterrupt, SystemExit)))


def run(main: Callable[[List[str]], None]) -> None:
  """`absl.app.run(main)` with the error handling of the module docstring."""

  def guarded(argv: List[str]) -> None:
    try:
      main(argv)
      if _joined():
        peers.finish(completed=True)
    except Preempted as preempted:
      if _joined():  # every process stops at the same step: wait for the others' saves
        peers.finish(completed=preempted.saved)
      logging.warning("%s", preempted)
      logging.flush()
      sys.stdout.flush()
      sys.stderr.flush()
      if preempted.abandoned:  # a compiling thread may still run: end without joining it
        os._exit(PREEMPTED_EXIT_CODE)  # pylint: disable=protected-access
      sys.exit(PREEMPTED_EXIT_CODE)
    except BaseException as error:  # pylint: disable=broad-except
      if _joined() and _may_be_a_lost_peer(error):
        peers.explain_failure()  # ends the process when a peer is gone
      if _joined():
        peers.finish(completed=False)
      if not isinstance(error, USER_ERRORS) or _TRACEBACK.value:
        raise
      message = str(error)
      if "Configuration is not available" in message:
        message = _config_file_error(error)
      _fail(f"{message}\n(--traceback shows where it came from)", ERROR_EXIT_CODE)

  app.run(guarded, flags_parser=_parse_flags)
