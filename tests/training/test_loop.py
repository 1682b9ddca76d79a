"""The training loop's pieces: periodic triggers, batch stacking, metric summaries and the
schedule of the periodic FID (with a stand-in scorer; the real one runs in test_runs.py)."""

import itertools

import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from an_flax.training import loop
from an_flax.training.trainer import _periodic_fid  # pylint: disable=protected-access


class _RecordingWriter:
  def __init__(self):
    self.scalars = {}

  def write_scalars(self, step, scalars):
    self.scalars[step] = dict(scalars)


def test_periodic_fid_runs_every_n_steps_and_at_the_last_step():
  config = ml_collections.ConfigDict({"num_train_steps": 7, "eval": {
      "fid_every_steps": 3, "fid_num_samples": 10}})
  scored = []

  def fake_fid(state):
    scored.append(state)
    return {"fid": 10.0 - state, "inception_score": 1.0 + state}

  writer = _RecordingWriter()
  fid = _periodic_fid(config, fake_fid, writer)
  for step in range(1, 8):
    fid(step, state=step)  # the "state" is the step: which state was scored
  assert scored == [3, 6, 7]
  assert writer.scalars == {s: {"fid": 10.0 - s, "inception_score": 1.0 + s} for s in scored}


def test_every_and_stack_batches():
  assert [s for s in range(1, 10) if loop.every(s, 4)] == [4, 8]
  assert not any(loop.every(s, 0) for s in range(1, 10))
  batches = ({"image": np.full((2, 3), i), "label": np.array([i, i])} for i in itertools.count())
  stacked = loop.stack_batches(batches, 3)
  assert stacked["image"].shape == (3, 2, 3) and stacked["label"].tolist() == [[0, 0], [1, 1],
                                                                               [2, 2]]


def test_summarize_averages_and_stops_at_the_first_non_finite_step():
  """Metrics stay on device until summarised, as in the loop."""
  pending = [(1, {"loss": jnp.float32(1.0), "finite": jnp.float32(1)}),
             (2, {"loss": jnp.float32(3.0), "finite": jnp.float32(1)})]
  assert loop.summarize(pending, last_saved=0) == {"loss": 2.0}
  pending.append((3, {"loss": jnp.float32(jnp.nan), "finite": jnp.float32(1)}))
  pending.append((4, {"loss": jnp.float32(1.0), "finite": jnp.float32(0)}))
  with pytest.raises(FloatingPointError, match=r"diverged at step 3: loss=nan.*step 2\."):
    loop.summarize(pending, last_saved=2)
