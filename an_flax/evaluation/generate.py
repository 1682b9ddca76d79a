"""Class-conditional sampling in eval mode: fixed-size global batches sharded over the mesh.

Images come back as uint8, quantised on device exactly as the FID extractor quantises float
images (`an_flax.metrics.preprocess.quantize_to_uint8`), so scores equal those of the same
samples written to PNG, and host transfers are 4x smaller. Every call compiles once: the
last batch is padded to the full global batch and the padding dropped, so any sample count
comes out exact. Multi-process jobs work too: every process passes the same labels and
receives every image.
"""

import functools
from typing import Any, Callable, Iterator, Optional, Tuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import tqdm
from jax.experimental import multihost_utils
from jax.sharding import Mesh

from an_flax.metrics.preprocess import quantize_to_uint8
from an_flax.runtime import mesh as mesh_lib

Variables = Any


def sample_z(key: jax.Array, num: int, z_dim: int, truncation: Optional[float] = None
             ) -> jax.Array:
  """N(0, I) latents; with `truncation` t, every entry with |z| > t is resampled.

  Resampling until in range (BigGAN's truncation trick) draws from the normal truncated
  to [-t, t], which `jax.random.truncated_normal` samples directly.
  """
  if truncation is None:
    return jax.random.normal(key, (num, z_dim), jnp.float32)
  return jax.random.truncated_normal(key, -truncation, truncation, (num, z_dim), jnp.float32)


def sampling_batch_size(config: ml_collections.ConfigDict) -> int:
  """The global sampling (and feature network) batch: `sampling.batch_size`, or the
  training batch when unset."""
  return config.sampling.batch_size or config.batch_size


def uniform_labels(num: int, num_classes: int, seed: int) -> np.ndarray:
  """Labels drawn uniformly at random (as in SN-GAN's and BigGAN's evaluation)."""
  return np.random.default_rng(seed).integers(0, num_classes, num).astype(np.int32)


class Sampler:
  """G (eval mode) on global batches of `batch_size` split over the mesh's 'data' axis."""

  def __init__(self, generator: nn.Module, mesh: Mesh, batch_size: int, z_dim: int,
               truncation: Optional[float] = None):
    if batch_size % mesh.size:
      raise ValueError(f"Sampling batch {batch_size} does not split over {mesh.size} devices.")
    self.batch_size = batch_size
    batch = mesh_lib.batch_sharding(mesh)
    self._batch_sharding = batch
    replicated = mesh_lib.replicated(mesh)

    def images(variables: Variables, z: jax.Array, labels: jax.Array) -> jax.Array:
      return quantize_to_uint8(generator.apply(variables, z, labels, train=False))

    self._images = jax.jit(images, in_shardings=(replicated, batch, batch),
                           out_shardings=batch)
    self._z = jax.jit(functools.partial(sample_z, num=batch_size, z_dim=z_dim,
                                        truncation=truncation), out_shardings=batch)

  def images(self, variables: Variables, z: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """uint8 images (N, H, W, 3) for given latents (N, z_dim) and labels (N,), any N."""
    z = np.asarray(z, np.float32)
    if len(z) != len(labels):
      raise ValueError(f"{len(z)} latents for {len(labels)} labels.")
    return np.concatenate([images for images, _ in self._run(
        variables, labels, lambda start, _: self._put(_pad(z[start:], self.batch_size)))])

  def stream(self, variables: Variables, labels: np.ndarray, key: jax.Array,
             desc: Optional[str] = None) -> Iterator[Tuple[np.ndarray, np.ndarray]]:
    """(uint8 images, labels) batches for `labels`, z of batch k from fold_in(key, k).

    The same key and labels give the same samples whatever consumes them.
    """
    z_fn = lambda _, index: self._z(jax.random.fold_in(key, index))
    with tqdm.tqdm(total=len(labels), desc=desc, unit="img", disable=desc is None) as bar:
      for images, batch_labels in self._run(variables, labels, z_fn):
        bar.update(len(batch_labels))
        yield images, batch_labels

  def _put(self, x: np.ndarray) -> jax.Array:
    """A global batch from a host array that every process holds in full."""
    return jax.make_array_from_callback(x.shape, self._batch_sharding, lambda index: x[index])

  def _run(self, variables: Variables, labels: np.ndarray,
           z_fn: Callable[[int, int], jax.Array]) -> Iterator[Tuple[np.ndarray, np.ndarray]]:
    """Dispatches batch k+1 before fetching batch k, so G keeps running while the
    consumer (e.g. the Inception network) works on the previous batch."""
    labels = np.asarray(labels, np.int32)
    pending = None
    for index, start in enumerate(range(0, len(labels), self.batch_size)):
      batch_labels = labels[start:start + self.batch_size]
      images = self._images(variables, z_fn(start, index),
                            self._put(_pad(batch_labels, self.batch_size)))
      if pending is not None:
        yield _fetch(*pending)
      pending = (images, batch_labels)
    if pending is not None:
      yield _fetch(*pending)


def _pad(x: np.ndarray, size: int) -> np.ndarray:
  """The first `size` rows of `x`, zero-padded to `size` rows."""
  x = x[:size]
  return np.concatenate([x, np.zeros((size - len(x), *x.shape[1:]), x.dtype)])


def _fetch(images: jax.Array, labels: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
  return multihost_utils.process_allgather(images, tiled=True)[:len(labels)], labels
