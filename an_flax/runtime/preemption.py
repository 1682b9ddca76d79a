"""SIGTERM -> finish the current step, save a checkpoint, exit cleanly.

One process: a Python signal handler sets a flag. Several processes: JAX's
preemption service (started by `jax.distributed.initialize`) catches SIGTERM
on any process and agrees with all of them on one step to stop at, so every
process takes part in the final save. A Python handler would replace that
service's own, so none is installed then.
"""

import signal
import types
from typing import Optional

import jax
from absl import logging
from jax.experimental import multihost_utils


class PreemptionGuard:
  """Tells the loop when all processes should save and stop."""

  def __init__(self):
    self._requested = False
    self._previous = None
    if jax.process_count() == 1:
      self._previous = signal.signal(signal.SIGTERM, self._on_sigterm)

  def _on_sigterm(self, signum: int, frame: Optional[types.FrameType]) -> None:
    del frame
    logging.warning("Received signal %d: saving a checkpoint after this step.", signum)
    self._requested = True

  def should_stop(self, step: int) -> bool:
    """Call once per step, on every process, with the same step numbers."""
    if jax.process_count() > 1:
      return multihost_utils.reached_preemption_sync_point(step)
    return self._requested

  def close(self) -> None:
    if self._previous is not None:
      signal.signal(signal.SIGTERM, self._previous)
