"""Several updates in a step: the scan and the unrolled form compute the same, and only
the scan is a loop."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from an_flax.runtime import update_loop


def _update(carry, inputs):
  """One 'update': a matrix-vector step on the carry, with per-update outputs."""
  weights, bias = carry
  x, scale = inputs
  new_bias = jnp.tanh(weights @ x + bias) * scale
  return (weights * 0.9, new_bias), {"norm": jnp.sum(new_bias ** 2), "x": x}


def _numpy_updates(weights, bias, xs, scales):
  """The same updates, written out in float64 numpy."""
  norms = []
  for x, scale in zip(xs, scales):
    bias = np.tanh(weights @ x + bias) * scale
    weights = weights * 0.9
    norms.append(np.sum(bias ** 2))
  return weights, bias, np.asarray(norms)


@pytest.mark.parametrize("loop", update_loop.LOOPS)
@pytest.mark.parametrize("count", [1, 3])
def test_updates_match_numpy(loop, count):
  """Tolerance 1e-5: float32 against float64 on O(1) values."""
  rng = np.random.default_rng(count)
  weights, bias = rng.normal(size=(4, 4)), rng.normal(size=4)
  xs, scales = rng.normal(size=(count, 4)), rng.uniform(0.5, 2.0, size=count)
  as32 = lambda a: jnp.asarray(a, jnp.float32)
  run = jax.jit(lambda *args: update_loop.run_updates(
      _update, (args[0], args[1]), (args[2], args[3]), loop))
  (new_weights, new_bias), outputs = run(*map(as32, (weights, bias, xs, scales)))
  expected_weights, expected_bias, expected_norms = _numpy_updates(weights, bias, xs, scales)
  np.testing.assert_allclose(new_weights, expected_weights, rtol=1e-5, atol=1e-5)
  np.testing.assert_allclose(new_bias, expected_bias, rtol=1e-5, atol=1e-5)
  np.testing.assert_allclose(outputs["norm"], expected_norms, rtol=1e-5, atol=1e-5)
  np.testing.assert_array_equal(outputs["x"], as32(xs))


@pytest.mark.parametrize("count", [1, 3])
def test_only_the_scan_is_a_loop(count):
  """Unrolled, even one update has no while loop (the loop itself is what XLA:CPU runs
  slowly); scanned, the program holds one update whatever the count."""
  carry = (jnp.ones((4, 4)), jnp.ones(4))
  inputs = (jnp.ones((count, 4)), jnp.ones(count))
  text = {loop: jax.jit(lambda c, x, loop=loop: update_loop.run_updates(_update, c, x, loop))
          .lower(carry, inputs).as_text() for loop in update_loop.LOOPS}
  assert text["scan"].count("stablehlo.while") == 1
  assert text["scan"].count("stablehlo.tanh") == 1
  assert "stablehlo.while" not in text["unroll"]
  assert text["unroll"].count("stablehlo.tanh") == count


def test_loop_names():
  assert update_loop.resolve_loop(None) == update_loop.default_loop() == "unroll"  # CPU
  assert update_loop.resolve_loop("scan") == "scan"
  with pytest.raises(ValueError, match="loop='unrolled': use one of"):
    update_loop.resolve_loop("unrolled")
