"""The training loop's pieces: periodic triggers, batch stacking and metric summaries."""

import itertools

import jax.numpy as jnp
import numpy as np
import pytest

from an_flax.runtime import loop


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
