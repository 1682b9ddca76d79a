"""The training loop both tasks run (class-conditional GAN and inpainting) around their step.

`train_loop` steps from the restored step to `config.num_train_steps` and, at each log,
writes the mean metrics since the last log with images/s per device, the fraction of
time spent waiting for data and the MFU. It saves every `config.checkpoint.every_steps`,
at the end and on SIGTERM (then raises `Preempted`), stops on a failed save within a log
interval, and stops before saving a state whose losses or parameters are not finite.
What a task adds (pictures, evaluators) runs in its `after_step` callback.

The steady state moves nothing to or from the host implicitly (`jax.transfer_guard`):
batches reach the devices ahead of their step from a background thread
(`DevicePrefetcher`), and metrics are summed on device and fetched once per log.
"""

import contextlib
import dataclasses
import queue
import threading
import time
from typing import Any, Callable, Dict, Iterator, Optional, Tuple

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from absl import logging
from clu import metric_writers, periodic_actions

from an_flax.runtime import hardware, mesh as mesh_lib
from an_flax.runtime.checkpoints import Checkpointer
from an_flax.runtime.preemption import PreemptionGuard, Preempted
from an_flax.runtime.step_io import Batch, Metrics, all_finite

HostBatch = Dict[str, np.ndarray]  # this process's part of a step's batch
StepFn = Callable[[Any, Batch], Tuple[Any, Metrics]]
PREFETCH_BATCHES = 2


def every(step: int, period: int) -> bool:
  """True every `period` steps; never when `period` is 0 (off)."""
  return period > 0 and step % period == 0


def stack_batches(iterator: Iterator[HostBatch], count: int) -> Iterator[HostBatch]:
  """Groups of `count` local batches stacked on a leading axis: one per update of a step."""
  while True:
    batches = [next(iterator) for _ in range(count)]
    yield {key: np.stack([b[key] for b in batches]) for key in batches[0]}


class DevicePrefetcher:
  """Global batches built `size` steps ahead by a background thread (double buffering).

  `put` turns a host batch into global device arrays; the thread runs it while the
  devices compute, so the loop only waits when the input pipeline is the bottleneck.
  `waited` accumulates the seconds the loop spent blocked in `next`.
  """

  def __init__(self, host_batches: Iterator[HostBatch], put: Callable[[HostBatch], Batch],
               size: int = PREFETCH_BATCHES):
    self._queue: queue.Queue = queue.Queue(maxsize=size)
    self._stop = threading.Event()
    self.waited = 0.0
    self._thread = threading.Thread(target=self._fill, args=(host_batches, put), daemon=True,
                                    name="device-prefetch")
    self._thread.start()

  def _fill(self, host_batches: Iterator[HostBatch], put: Callable[[HostBatch], Batch]) -> None:
    try:
      for batch in host_batches:
        item = (put(batch), None)
        while not self._stop.is_set():
          try:
            self._queue.put(item, timeout=0.1)
            break
          except queue.Full:
            continue
        if self._stop.is_set():
          return
      self._queue.put((None, StopIteration()))
    except BaseException as error:  # pylint: disable=broad-except
      self._queue.put((None, error))

  def __next__(self) -> Batch:
    start = time.monotonic()
    batch, error = self._queue.get()
    self.waited += time.monotonic() - start
    if error is not None:
      raise error
    return batch

  def close(self) -> None:
    self._stop.set()


def _healthy(metrics: Metrics) -> jax.Array:
  return all_finite(metrics) & (metrics["finite"] >= 1)


@jax.jit
def _start_window(metrics: Metrics) -> Dict[str, Any]:
  bad = ~_healthy(metrics)
  return {"sum": metrics, "count": jnp.ones((), jnp.int32),
          "first_bad": jnp.where(bad, 0, -1).astype(jnp.int32), "at_bad": metrics}


@jax.jit
def _add_to_window(window: Dict[str, Any], metrics: Metrics) -> Dict[str, Any]:
  first = (window["first_bad"] < 0) & ~_healthy(metrics)
  return {"sum": jax.tree.map(jnp.add, window["sum"], metrics),
          "count": window["count"] + 1,
          "first_bad": jnp.where(first, window["count"], window["first_bad"]),
          "at_bad": jax.tree.map(lambda kept, new: jnp.where(first, new, kept),
                                 window["at_bad"], metrics)}


@jax.jit
def _pack(window: Dict[str, Any]) -> jax.Array:
  """The window as one float32 vector: one transfer to the host per log."""
  return jnp.concatenate([jnp.ravel(x).astype(jnp.float32) for x in jax.tree.leaves(window)])


class MetricsWindow:
  """Metrics of the steps since the last log, summed on device.

  Each step's metrics hold the losses and `finite` (1 when every parameter is finite).
  The first step whose values are not all finite is remembered with its values, so the
  error names the step at which training diverged.
  """

  def __init__(self):
    self._window: Optional[Dict[str, Any]] = None
    self._first_step: Optional[int] = None

  def add(self, step: int, metrics: Metrics) -> None:
    if self._window is None:
      self._window, self._first_step = _start_window(metrics), step
    else:
      self._window = _add_to_window(self._window, metrics)

  def summary(self, last_saved: Optional[int]) -> Dict[str, float]:
    """Means over the window of every metric but `finite`; resets the window.

    Raises FloatingPointError at the first step whose losses or parameters are not finite.
    """
    window, first_step = self._window, self._first_step
    self._window = self._first_step = None
    treedef = jax.tree.structure(window)
    values = mesh_lib.to_host(_pack(window))
    host = jax.tree.unflatten(treedef, [float(v) for v in values])
    if host["first_bad"] >= 0:
      step = first_step + int(host["first_bad"])
      at_bad = host["at_bad"]
      losses = ", ".join(f"{k}={v:.4g}" for k, v in sorted(at_bad.items()) if k != "finite")
      raise FloatingPointError(
          f"Training diverged at step {step}: {losses}, parameters finite: "
          f"{at_bad['finite'] >= 1}. Stopped without saving this state; the newest "
          f"checkpoint is step {last_saved}. Lower the learning rates or check the data.")
    count = host["count"]
    return {k: v / count for k, v in host["sum"].items() if k != "finite"}


@contextlib.contextmanager
def preemptible(checkpointer: Checkpointer, writer: metric_writers.MetricWriter
                ) -> Iterator[PreemptionGuard]:
  """The SIGTERM guard of a run. However the run ends (done, stopped, or an error), the
  checkpoint being written is completed, the signal handler restored and the metrics
  flushed."""
  guard = PreemptionGuard()
  try:
    yield guard
  finally:
    try:
      checkpointer.wait()
    finally:
      checkpointer.close()
      guard.close()
      writer.flush()


@dataclasses.dataclass(frozen=True)
class StepCost:
  """What a log line needs to turn step times into throughput and MFU."""

  images_per_step: int  # real images consumed per step, over all devices
  flops_per_device: Optional[float]  # XLA's cost analysis of the compiled step
  dtype: str  # compute dtype, for the device's peak


def train_loop(config: ml_collections.ConfigDict, *, state: Any, start_step: int,
               train_step: StepFn, batches: DevicePrefetcher, cost: StepCost,
               checkpointer: Checkpointer, guard: PreemptionGuard,
               writer: metric_writers.MetricWriter, workdir: str,
               after_step: Callable[[Any, int, bool], None]) -> Any:
  """Steps from `start_step` to `config.num_train_steps`; returns the final state.

  `after_step(state, step, last)` runs after each step's log and save, except on SIGTERM.
  """
  report = periodic_actions.ReportProgress(
      num_train_steps=config.num_train_steps, writer=writer, every_steps=config.log_every_steps)
  profile = (periodic_actions.Profile(logdir=workdir, first_profile=config.profile.first_step,
                                      num_profile_steps=config.profile.num_steps,
                                      profile_duration_ms=None, every_secs=None)
             if config.profile.first_step > 0 else None)
  device_kind, devices = jax.devices()[0].device_kind, jax.device_count()
  window, last_saved = MetricsWindow(), checkpointer.latest_step()
  window_start, window_steps, waited_before = time.monotonic(), 0, batches.waited
  for step in range(start_step + 1, config.num_train_steps + 1):
    batch = next(batches)
    with jax.transfer_guard("disallow"):
      state, metrics = train_step(state, batch)
      window.add(step, metrics)
    window_steps += 1
    report(step)
    if profile is not None:
      profile(step)
    stop = guard.should_stop(step)
    last = step == config.num_train_steps
    save = stop or last or checkpointer.due(step)
    if save or every(step, config.log_every_steps):
      scalars = window.summary(last_saved)
      elapsed = time.monotonic() - window_start
      scalars["images_per_sec_per_device"] = (
          window_steps * cost.images_per_step / elapsed / devices)
      scalars["data_wait_fraction"] = (batches.waited - waited_before) / elapsed
      mfu = hardware.model_flops_utilization(cost.flops_per_device, elapsed / window_steps,
                                             device_kind, cost.dtype)
      if mfu is not None:
        scalars["mfu"] = mfu
      writer.write_scalars(step, scalars)
      checkpointer.check_saves()
      window_start, window_steps, waited_before = time.monotonic(), 0, batches.waited
    if save:
      with report.timed("checkpoint"):
        checkpointer.save(step, state, config)
      last_saved = step
      writer.flush()  # the logs land with the checkpoint (in an object store, as a new file)
    if stop:
      raise Preempted(step, saved=True)
    after_step(state, step, last)
  return state


def compile_step(step_fn: Any, args: Tuple[Any, ...], guard: PreemptionGuard,
                 newest_checkpoint: Optional[int]) -> Tuple[Any, Optional[float]]:
  """(compiled step, FLOPs per device) of a jitted step, compiled ahead of time for `args`
  (arrays or ShapeDtypeStructs with shardings).

  Interruptible by SIGTERM (`PreemptionGuard.interruptible`): nothing new exists to save.
  """
  start = time.monotonic()
  def lower_and_compile():
    lowered = step_fn.lower(*args)
    return lowered, lowered.compile()

  lowered, compiled = guard.interruptible(lower_and_compile, newest_checkpoint)
  flops = hardware.step_flops(lowered, jax.device_count())
  logging.info("Compiled the train step in %.1f s (%s FLOPs per device and step).",
               time.monotonic() - start, f"{flops:.3g}" if flops else "unknown")
  return compiled, flops
