"""Device mesh, shardings and global batches (joining a multi-process job: `peers`).

One `jax.jit` over a mesh spanning every device of every process: the state
is replicated, the batch is split along the mesh's 'data' axis.
"""

from typing import Any, Mapping, Optional, Sequence

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

DATA_AXIS = "data"


def check_batch_size(batch_size: int, num_devices: int, num_processes: int,
                     field: str = "batch_size") -> None:
  """A global batch must split evenly over devices (and so over processes)."""
  if batch_size % num_devices or batch_size % num_processes:
    raise ValueError(
        f"config.{field}={batch_size} does not divide evenly over the {num_devices} "
        f"devices of {num_processes} process(es); use a multiple of {num_devices}.")


def create_mesh(devices: Optional[Sequence[jax.Device]] = None) -> Mesh:
  """A mesh over `devices` (default: all devices of all processes), batch split along 'data'."""
  return Mesh(np.asarray(jax.devices() if devices is None else devices), (DATA_AXIS,))


def replicated(mesh: Mesh) -> NamedSharding:
  return NamedSharding(mesh, P())


def batch_sharding(mesh: Mesh, batch_dim: int = 0) -> NamedSharding:
  """Splits dimension `batch_dim` over the 'data' axis."""
  return NamedSharding(mesh, P(*([None] * batch_dim), DATA_AXIS))


def global_batch(local: Mapping[str, np.ndarray], mesh: Mesh, batch_dim: int = 0
                 ) -> dict[str, jax.Array]:
  """Global arrays from this process's slice of the batch along `batch_dim`.

  Processes contribute equal slices in process order, so the global batch is
  the concatenation of the local ones.
  """
  sharding = batch_sharding(mesh, batch_dim)

  def make(x: np.ndarray) -> jax.Array:
    shape = list(x.shape)
    shape[batch_dim] *= jax.process_count()
    return jax.make_array_from_process_local_data(sharding, x, tuple(shape))

  return {key: make(np.asarray(value)) for key, value in local.items()}


def to_host(tree: Any) -> Any:
  """Replicated arrays -> numpy on every process (no cross-process gather needed)."""
  return jax.tree.map(lambda x: np.asarray(x.addressable_data(0)), tree)
