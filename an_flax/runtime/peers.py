"""Joining a multi-process job, and stopping cleanly when another process of it is lost.

JAX's coordination service declares a process dead when it sends no heartbeat for
`heartbeat_timeout_seconds`, and by default then aborts every survivor with a C++ stack
(status 134), after a minute or more of failed collectives. Here the job runs with JAX's
recoverability on (`jax_enable_recoverability`): the service reports a lost process instead
of aborting the others, and a watchdog thread asks it every second which processes are live
(`DistributedRuntimeClient.get_live_nodes`). When one is missing, the survivor prints one
line (which process, that no state was lost, the newest checkpoint, and to restart every
process with the same command) and exits with `PEER_LOST_EXIT_CODE`, 75 (EX_TEMPFAIL, "try
again"), as a scheduler's retry policy expects. A step or a save that fails first, on a
collective or barrier with the lost process, waits for the watchdog's verdict
(`explain_failure`).

What it cannot catch: the loss of process 0, which runs the coordination service: the
others' JAX runtime ends them at once with status 134 (no Python code runs). A process that
still sends heartbeats but computes nothing (a hung kernel) is not lost to the service; the
collectives of the others then wait for it.
"""

import os
import sys
import threading
import time
from typing import Optional

import jax
from absl import logging
from etils import epath
from jax._src import distributed  # the job's client: no public accessor

PEER_LOST_EXIT_CODE = 75
DEFAULT_HEARTBEAT_TIMEOUT_SECONDS = 100  # JAX's: long enough for a pod host's stalls
_POLL_SECONDS = 1.0
_SHUTDOWN_WAIT_SECONDS = 30.0  # process 0's wait for the others to disconnect

_checkpoints: Optional[str] = None  # the running job's checkpoint directory, for the message
_heartbeat_timeout = DEFAULT_HEARTBEAT_TIMEOUT_SECONDS
_finished = threading.Event()  # set once this process is done: peers leaving is no loss
_watchdog: Optional[threading.Thread] = None


def initialize(coordinator_address: Optional[str] = None, num_processes: Optional[int] = None,
               process_id: Optional[int] = None,
               heartbeat_timeout_seconds: int = DEFAULT_HEARTBEAT_TIMEOUT_SECONDS) -> None:
  """Joins the job (call before anything touches a device) and starts the watchdog.

  With no arguments JAX reads JAX_COORDINATOR_ADDRESS or detects the cluster (Cloud TPU,
  SLURM, Open MPI, Kubernetes). CPU processes talk through gloo.
  """
  global _heartbeat_timeout, _watchdog
  _heartbeat_timeout = heartbeat_timeout_seconds
  jax.config.update("jax_cpu_collectives_implementation", "gloo")
  jax.config.update("jax_enable_recoverability", True)
  jax.distributed.initialize(coordinator_address, num_processes, process_id,
                             heartbeat_timeout_seconds=heartbeat_timeout_seconds)
  logging.info("Process %d of %d joined the job (heartbeat timeout %d s).",
               jax.process_index(), jax.process_count(), heartbeat_timeout_seconds)
  _watchdog = threading.Thread(target=_watch, daemon=True, name="peer-watchdog")
  _watchdog.start()


def watch_checkpoints(directory: Optional[str]) -> None:
  """Names the checkpoint directory whose newest step the lost-process message gives."""
  global _checkpoints
  _checkpoints = directory


def _newest_checkpoint() -> str:
  if _checkpoints is None:
    return "this command writes no checkpoints"
  try:
    steps = [int(p.name) for p in epath.Path(_checkpoints).iterdir() if p.name.isdigit()]
  except OSError:
    steps = []
  if not steps:
    return f"no checkpoint was written yet in {_checkpoints}"
  return f"the newest checkpoint is step {max(steps)} in {_checkpoints}"


def _lost(processes: list[int]) -> None:
  """Says which processes are gone and ends this one; never returns."""
  names = ", ".join(str(p) for p in processes)
  program = os.path.basename(sys.argv[0])
  print(f"{program}: error: process {names} of the {jax.process_count()}-process job is "
        f"gone (no heartbeat for {_heartbeat_timeout} s), so process {jax.process_index()} "
        f"stops too. No state was lost: {_newest_checkpoint()}. Restart every process with "
        f"the same command (exit status {PEER_LOST_EXIT_CODE}: retry).",
        file=sys.stderr, flush=True)
  logging.flush()
  os._exit(PEER_LOST_EXIT_CODE)  # pylint: disable=protected-access


def lost_processes() -> list[int]:
  """The processes of the job the coordination service no longer counts as live."""
  count = jax.process_count()
  live = distributed.global_state.client.get_live_nodes(list(range(count)))
  return sorted(set(range(count)) - set(live))


def _watch() -> None:
  while not _finished.is_set():
    try:
      lost = lost_processes()
    except Exception:  # pylint: disable=broad-except
      lost = [0]  # the coordination service (process 0) does not answer
    if lost and not _finished.is_set():
      _lost(lost)
    _finished.wait(_POLL_SECONDS)


def finish(completed: bool) -> None:
  """Stops watching before this process ends. After a completed command every process
  first waits for the others, so none reads another's normal exit as a loss.

  With recoverability on, JAX's shutdown barrier no longer holds process 0 until the others
  have disconnected; if it left first, their shutdown would find no coordination service
  and abort. So the others disconnect here, and process 0 waits until they have.
  """
  if completed:
    from jax.experimental import multihost_utils  # pylint: disable=import-outside-toplevel
    multihost_utils.sync_global_devices("an_flax: command completed")
  _finished.set()
  if _watchdog is not None:
    _watchdog.join()
  if not completed:
    return
  if jax.process_index() != 0:
    jax.distributed.shutdown()
    return
  deadline = time.monotonic() + _SHUTDOWN_WAIT_SECONDS
  while len(lost_processes()) < jax.process_count() - 1 and time.monotonic() < deadline:
    time.sleep(0.05)


def explain_failure() -> None:
  """After a failure in a multi-process job: if a process turns out to be lost within the
  heartbeat timeout, says so and ends this process; else returns (the failure is another)."""
  deadline = time.monotonic() + _heartbeat_timeout + 5 * _POLL_SECONDS
  while time.monotonic() < deadline:
    try:
      lost = lost_processes()
    except Exception:  # pylint: disable=broad-except
      lost = [0]
    if lost:
      _lost(lost)
    time.sleep(_POLL_SECONDS)
