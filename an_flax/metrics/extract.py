"""Feature networks on image batches, data-parallel over all devices under `jax.jit`."""

import functools
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.experimental import multihost_utils
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P
from numpy.typing import ArrayLike

from an_flax.metrics.inception import FIDInceptionV3
from an_flax.metrics.preprocess import (
    INCEPTION_SIZE, ResizeMode, check_resize_mode, inception_input, quantize_to_uint8)
from an_flax.metrics.statistics import FeatureFn

# (variables, uint8 NHWC images) -> (features, logits or None), traced under jit.
Forward = Callable[[Any, jax.Array], tuple[jax.Array, jax.Array | None]]


def sharded_feature_fn(forward: Forward, variables: Any, mesh: Mesh | None = None) -> FeatureFn:
  """Returns `extract(images) -> (features, logits)` as host arrays (logits None where
  `forward` gives None), `forward` on all devices.

  `images` is NHWC: uint8 (real data, used as is) or float in [-1, 1] (generated samples,
  quantised to uint8 first, so scores equal those of the samples saved as PNG). The batch
  is split over every axis of `mesh` (default: all devices on one 'data' axis), variables
  are replicated; batches are zero-padded to a multiple of the device count and the padding
  dropped, so each distinct padded batch size compiles once. Works in multi-process jobs:
  every process passes the same host batch and gets all of its outputs back; or, with
  `extract(images, process_local=True)`, each passes its own rows of a global batch (as each
  reads its own slice of a dataset; a multiple of its device count) and every process gets
  the outputs of all the rows, in process order.
  """
  mesh = mesh or Mesh(jax.devices(), ("data",))
  batch_sharding = NamedSharding(mesh, P(mesh.axis_names))
  replicated = NamedSharding(mesh, P())
  variables = jax.device_put(variables, replicated)

  @functools.partial(jax.jit, in_shardings=(replicated, batch_sharding),
                     out_shardings=batch_sharding)
  def run(variables, images):
    if jnp.issubdtype(images.dtype, jnp.floating):
      images = quantize_to_uint8(images)
    return forward(variables, images)

  def extract(images: ArrayLike, process_local: bool = False
              ) -> tuple[np.ndarray, np.ndarray | None]:
    images = np.asarray(images)
    if process_local:  # this process's rows of a global batch: outputs of all the rows
      global_images = jax.make_array_from_process_local_data(batch_sharding, images)
      return multihost_utils.process_allgather(run(variables, global_images), tiled=True)
    n = images.shape[0]
    pad = -n % mesh.size
    if pad:
      images = np.concatenate([images, np.zeros((pad, *images.shape[1:]), images.dtype)])
    global_images = jax.make_array_from_callback(images.shape, batch_sharding,
                                                 lambda index: images[index])
    outputs = multihost_utils.process_allgather(run(variables, global_images), tiled=True)
    return jax.tree.map(lambda a: a[:n], outputs)

  return extract


def make_feature_extractor(variables: dict, *, mesh: Mesh | None = None,
                           image_size: int = INCEPTION_SIZE,
                           logits_with_bias: bool = False,
                           resize: ResizeMode = "legacy") -> FeatureFn:
  """Returns `extract(images) -> (pool3 (N, 2048), logits (N, 1008))` as host float32 arrays.

  Images of any spatial size, as `sharded_feature_fn` takes them; the Inception input path
  of `resize` (see `inception_input`) runs on device. `image_size` below 299 is for tests
  only. `logits_with_bias=False` gives the IS convention (see `inception_score`).
  """
  check_resize_mode(resize)
  model = FIDInceptionV3(logits_with_bias=logits_with_bias)
  return sharded_feature_fn(
      lambda v, images: model.apply(v, inception_input(images, image_size, resize)),
      variables, mesh)
