"""The training loop's pieces: periodic triggers, batch stacking, on-device metric windows
and the device prefetcher."""

import itertools
import time

import jax
import numpy as np
import pytest

from an_flax.runtime import loop


def test_every_and_stack_batches():
  assert [s for s in range(1, 10) if loop.every(s, 4)] == [4, 8]
  assert not any(loop.every(s, 0) for s in range(1, 10))
  batches = ({"image": np.full((2, 3), i), "label": np.array([i, i])} for i in itertools.count())
  stacked = next(loop.stack_batches(batches, 3))
  assert stacked["image"].shape == (3, 2, 3) and stacked["label"].tolist() == [[0, 0], [1, 1],
                                                                               [2, 2]]


def _metrics(loss: float, finite: float = 1.0):
  return {"loss": jax.device_put(np.float32(loss)), "finite": jax.device_put(np.float32(finite))}


def test_metrics_window_averages_on_device_and_names_the_first_non_finite_step():
  """Adding metrics moves nothing to the host (an implicit transfer would raise here)."""
  window = loop.MetricsWindow()
  steps = [(1, _metrics(1.0)), (2, _metrics(3.0))]
  with jax.transfer_guard("disallow"):
    for step, metrics in steps:
      window.add(step, metrics)
  assert window.summary(last_saved=0) == {"loss": 2.0}
  with jax.transfer_guard("disallow"):
    for step, metrics in [(3, _metrics(5.0)), (4, _metrics(np.nan)), (5, _metrics(1.0, 0.0))]:
      window.add(step, metrics)
  with pytest.raises(FloatingPointError, match=r"diverged at step 4: loss=nan, parameters "
                     r"finite: True.*newest checkpoint is step 2\."):
    window.summary(last_saved=2)
  window.add(6, _metrics(2.0, 0.0))  # non-finite parameters, finite losses
  with pytest.raises(FloatingPointError, match=r"step 6: loss=2, parameters finite: False"):
    window.summary(last_saved=2)


def test_device_prefetcher_keeps_order_measures_waiting_and_reraises():
  put = lambda batch: {k: jax.device_put(v) for k, v in batch.items()}

  def slow_batches():
    for i in range(3):
      time.sleep(0.2)
      yield {"x": np.full((2,), i)}
    raise OSError("the data went away")

  prefetcher = loop.DevicePrefetcher(slow_batches(), put)
  assert [int(next(prefetcher)["x"][0]) for _ in range(3)] == [0, 1, 2]
  assert prefetcher.waited >= 0.3  # the consumer was faster than the data
  with pytest.raises(OSError, match="the data went away"):
    next(prefetcher)
  prefetcher.close()
