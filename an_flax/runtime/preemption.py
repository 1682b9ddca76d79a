"""SIGTERM -> finish the current step, save a checkpoint, exit with `PREEMPTED_EXIT_CODE`.

One process: a Python signal handler sets a flag. Several processes: JAX's
preemption service (started by `jax.distributed.initialize`) catches SIGTERM
on any process and agrees with all of them on one step to stop at, so every
process takes part in the final save. A Python handler would replace that
service's own, so none is installed then.

A preempted run exits with status 143 (128 + SIGTERM, what a shell reports for a
process SIGTERM ended), never 0, so a scheduler requeues it; the same command resumes.
Work before the first step (building the state, compiling the step) is interruptible in
one process: a SIGTERM there exits within a second, since nothing new exists to save.
"""

import signal
import threading
import types
from typing import Callable, Optional, TypeVar

import jax
from absl import logging
from jax.experimental import multihost_utils

PREEMPTED_EXIT_CODE = 143
_POLL_SECONDS = 0.1
T = TypeVar("T")


class Preempted(Exception):
  """The run stopped on SIGTERM; `step` is the newest checkpoint's step (None: none yet).

  `abandoned` is True when a worker thread (compilation) was left running, so the process
  must end without waiting for it.
  """

  def __init__(self, step: Optional[int], saved: bool, abandoned: bool = False):
    self.step, self.saved, self.abandoned = step, saved, abandoned
    what = (f"saved a checkpoint of step {step}" if saved else
            "nothing new to save" + (f" (the newest checkpoint is step {step})"
                                     if step is not None else ""))
    super().__init__(f"Preempted (SIGTERM): {what}. Run the same command to resume "
                     f"(exit status {PREEMPTED_EXIT_CODE}).")


class PreemptionGuard:
  """Tells the loop when all processes should save and stop."""

  def __init__(self):
    self._requested = threading.Event()
    self._previous = None
    if jax.process_count() == 1:
      self._previous = signal.signal(signal.SIGTERM, self._on_sigterm)

  def _on_sigterm(self, signum: int, frame: Optional[types.FrameType]) -> None:
    del frame
    logging.warning("Received signal %d: stopping; a checkpoint is saved first if the run "
                    "has stepped since the newest one.", signum)
    self._requested.set()

  def should_stop(self, step: int) -> bool:
    """Call once per step, on every process, with the same step numbers."""
    if jax.process_count() > 1:
      return multihost_utils.reached_preemption_sync_point(step)
    return self._requested.is_set()

  def interruptible(self, work: Callable[[], T], newest_checkpoint: Optional[int]) -> T:
    """`work()`, abandoned with `Preempted` if SIGTERM arrives first (one process only).

    The work runs in a daemon thread while this (the main) thread waits, so the signal
    handler runs at once; the caller must then end the process (`Preempted.abandoned`).
    """
    if jax.process_count() > 1:
      return work()
    result, failure = [], []

    def run() -> None:
      try:
        result.append(work())
      except BaseException as error:  # pylint: disable=broad-except
        failure.append(error)

    thread = threading.Thread(target=run, daemon=True, name="interruptible-work")
    thread.start()
    while thread.is_alive():
      if self._requested.wait(_POLL_SECONDS):
        raise Preempted(newest_checkpoint, saved=False, abandoned=True)
    if failure:
      raise failure[0]
    return result[0]

  def close(self) -> None:
    if self._previous is not None:
      signal.signal(signal.SIGTERM, self._previous)
