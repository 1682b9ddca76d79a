"""Inception features for image batches, data-parallel over all devices under `jax.jit`."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
from jax.experimental import multihost_utils
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P
from numpy.typing import ArrayLike

from an_flax.metrics.inception import FIDInceptionV3
from an_flax.metrics.preprocess import INCEPTION_SIZE, inception_input, quantize_to_uint8
from an_flax.metrics.statistics import FeatureFn


def make_feature_extractor(variables: dict, *, mesh: Mesh | None = None,
                           image_size: int = INCEPTION_SIZE,
                           logits_with_bias: bool = False) -> FeatureFn:
  """Returns `extract(images) -> (pool3 (N, 2048), logits (N, 1008))` as host float32 arrays.

  `images` is NHWC, any spatial size: uint8 (real data, used as is) or float in [-1, 1]
  (generated samples, quantised to uint8 first). Preprocessing runs on device. The batch
  is split over every axis of `mesh` (default: all devices on one 'data' axis), parameters
  are replicated; batches are zero-padded to a multiple of the device count and the padding
  dropped, so each distinct padded batch size compiles once. `image_size` below 299 is for
  tests only. `logits_with_bias=False` gives the IS convention (see `inception_score`).
  Works in multi-process jobs: every process passes the same host batch and gets all of
  its features back.
  """
  mesh = mesh or Mesh(jax.devices(), ("data",))
  batch_sharding = NamedSharding(mesh, P(mesh.axis_names))
  replicated = NamedSharding(mesh, P())
  model = FIDInceptionV3(logits_with_bias=logits_with_bias)
  variables = jax.device_put(variables, replicated)

  @functools.partial(jax.jit, in_shardings=(replicated, batch_sharding),
                     out_shardings=batch_sharding)
  def forward(variables, images):
    if jnp.issubdtype(images.dtype, jnp.floating):
      images = quantize_to_uint8(images)
    return model.apply(variables, inception_input(images, image_size))

  def extract(images: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    images = np.asarray(images)
    n = images.shape[0]
    pad = -n % mesh.size
    if pad:
      images = np.concatenate([images, np.zeros((pad, *images.shape[1:]), images.dtype)])
    global_images = jax.make_array_from_callback(images.shape, batch_sharding,
                                                 lambda index: images[index])
    pool3, logits = multihost_utils.process_allgather(forward(variables, global_images),
                                                      tiled=True)
    return pool3[:n], logits[:n]

  return extract
