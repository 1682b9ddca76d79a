"""Device mesh, shardings, global batches and multi-process start-up.

One `jax.jit` over a mesh spanning every device of every process: the train
state is replicated, the batch is split along the mesh's 'data' axis. With
`config.model.bn_axis_name` set, the mesh gets a second axis of size 1 under
that name: flax BatchNorm averages its statistics over the axis it names, so
naming a one-device axis inside `shard_map` gives per-device statistics.
"""

from typing import Any, Mapping, Optional, Sequence

import jax
import numpy as np
from absl import logging
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

DATA_AXIS = "data"


def initialize_distributed(coordinator_address: Optional[str] = None,
                           num_processes: Optional[int] = None,
                           process_id: Optional[int] = None) -> None:
  """Joins a multi-process job; call before anything touches a device.

  With no arguments JAX reads JAX_COORDINATOR_ADDRESS or detects the cluster
  (Cloud TPU, SLURM, Open MPI, Kubernetes). CPU processes talk through gloo.
  """
  jax.config.update("jax_cpu_collectives_implementation", "gloo")
  jax.distributed.initialize(coordinator_address, num_processes, process_id)
  logging.info("Process %d of %d joined the job.", jax.process_index(), jax.process_count())


def check_batch_size(batch_size: int, num_devices: int, num_processes: int) -> None:
  """A global batch must split evenly over devices (and so over processes)."""
  if batch_size % num_devices or batch_size % num_processes:
    raise ValueError(
        f"config.batch_size={batch_size} does not divide evenly over the {num_devices} "
        f"devices of {num_processes} process(es); use a multiple of {num_devices}.")


def create_mesh(bn_axis_name: Optional[str] = None,
                devices: Optional[Sequence[jax.Device]] = None) -> Mesh:
  """A mesh over `devices` (default: all devices of all processes), batch split along 'data'."""
  devices = np.asarray(jax.devices() if devices is None else devices)
  if bn_axis_name is None:
    return Mesh(devices, (DATA_AXIS,))
  if bn_axis_name == DATA_AXIS:
    raise ValueError(
        f"config.model.bn_axis_name={bn_axis_name!r} is the mesh's batch axis: flax BatchNorm "
        "averages statistics over the axis it names, which would make them global again. "
        "Use another name, e.g. 'bn', for per-device statistics.")
  return Mesh(devices.reshape(-1, 1), (DATA_AXIS, bn_axis_name))


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
