"""What a compiled train step takes and gives back, for every task.

A step takes a `Batch` (global arrays on the devices) and returns the new state and
`Metrics`: scalars, one of which, `finite`, is 1 when every parameter is finite
(`all_finite`), so the loop can stop before saving a diverged state. Light on purpose
(JAX only): the steps import it, and the GPU benchmarks run the steps without clu.
"""

from typing import Any, Dict

import jax
import jax.numpy as jnp

Batch = Dict[str, jax.Array]  # a step's global batch on the devices
Metrics = Dict[str, jax.Array]  # a step's scalars


def all_finite(tree: Any) -> jax.Array:
  """True when every value of every leaf is finite (a traced boolean)."""
  return jnp.all(jnp.stack([jnp.all(jnp.isfinite(x)) for x in jax.tree.leaves(tree)]))
