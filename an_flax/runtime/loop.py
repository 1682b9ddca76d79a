"""Pieces shared by the training loops (class-conditional GAN and inpainting).

Clean-up however a loop ends, batches for the several updates of one step, periodic
triggers, and the metrics of
the steps since the last log: fetched to the host only when they are written (the
device runs ahead meanwhile), checked for non-finite values before anything is saved.
"""

import contextlib
from typing import Any, Dict, Iterator, List, Mapping, Tuple

import numpy as np
from clu import metric_writers

from an_flax.runtime import mesh as mesh_lib
from an_flax.runtime.checkpoints import Checkpointer
from an_flax.runtime.preemption import PreemptionGuard

PendingMetrics = List[Tuple[int, Mapping[str, Any]]]  # (step, metrics), oldest first


@contextlib.contextmanager
def preemptible(checkpointer: Checkpointer, writer: metric_writers.MetricWriter
                ) -> Iterator[PreemptionGuard]:
  """The SIGTERM guard of a loop. However the loop ends (done, stopped, or an error),
  the checkpoint being written is completed, the signal handler restored and the
  metrics flushed."""
  guard = PreemptionGuard()
  try:
    yield guard
  finally:
    checkpointer.wait()
    checkpointer.close()
    guard.close()
    writer.flush()


def stack_batches(iterator: Iterator[Dict[str, np.ndarray]], count: int
                  ) -> Dict[str, np.ndarray]:
  """`count` local batches stacked on a leading axis: one per update of a step."""
  batches = [next(iterator) for _ in range(count)]
  return {key: np.stack([b[key] for b in batches]) for key in batches[0]}


def every(step: int, period: int) -> bool:
  """True every `period` steps; never when `period` is 0 (off)."""
  return period > 0 and step % period == 0


def check_finite(pending: PendingMetrics, last_saved: int | None) -> None:
  """Raises at the first step whose losses or parameters are not finite.

  Each step's metrics hold `finite` (1 when every parameter is finite) and the losses.
  """
  for step, metrics in pending:
    losses = {k: float(v) for k, v in metrics.items() if k != "finite"}
    if metrics["finite"] < 1 or not np.all(np.isfinite(list(losses.values()))):
      values = ", ".join(f"{k}={v:.4g}" for k, v in sorted(losses.items()))
      raise FloatingPointError(
          f"Training diverged at step {step}: {values}, parameters finite: "
          f"{bool(metrics['finite'] >= 1)}. Stopped without saving this state; the newest "
          f"checkpoint is step {last_saved}. Lower the learning rates or check the data.")


def summarize(pending: PendingMetrics, last_saved: int | None) -> Dict[str, float]:
  """Means over the pending steps of every metric but `finite`, after `check_finite`."""
  pending = [(step, mesh_lib.to_host(metrics)) for step, metrics in pending]
  check_finite(pending, last_saved)
  return {key: float(np.mean([metrics[key] for _, metrics in pending]))
          for key in pending[-1][1] if key != "finite"}
