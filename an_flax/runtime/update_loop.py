"""How a step runs its several D (critic) updates: a `lax.scan`, or unrolled on the CPU.

A scan keeps the program one update long whatever the number of updates, which is what
compile time and program size on GPUs and TPUs want. XLA:CPU runs the convolutions of a
loop body far more slowly (jax-ml/jax#12868; `benchmarks/train_step_time.py
--d_steps_study` measures both), so on the CPU the updates are written out one after
another with no loop at all: even a one-trip loop is slow there, and
`lax.scan(..., unroll=True)` keeps one for a single update.
"""

from typing import Any, Callable, Tuple

import jax
import jax.numpy as jnp

LOOPS = ("scan", "unroll")


def default_loop() -> str:
  """'unroll' on the CPU, else 'scan'."""
  return "unroll" if jax.default_backend() == "cpu" else "scan"


def resolve_loop(loop: str | None) -> str:
  """`loop`, or the backend's default when None; a ValueError for any other name."""
  loop = loop or default_loop()
  if loop not in LOOPS:
    raise ValueError(f"loop={loop!r}: use one of {LOOPS}.")
  return loop


def run_updates(update: Callable[[Any, Any], Tuple[Any, Any]], carry: Any, inputs: Any,
                loop: str) -> Tuple[Any, Any]:
  """`lax.scan(update, carry, inputs)`, or the same written out when `loop` is 'unroll':
  the final carry and each update's outputs stacked on a leading axis."""
  if loop == "scan":
    return jax.lax.scan(update, carry, inputs)
  outputs = []
  for i in range(jax.tree.leaves(inputs)[0].shape[0]):
    carry, output = update(carry, jax.tree.map(lambda x, i=i: x[i], inputs))
    outputs.append(output)
  return carry, jax.tree.map(lambda *values: jnp.stack(values), *outputs)
