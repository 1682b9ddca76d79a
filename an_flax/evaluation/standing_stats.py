"""Standing statistics: G's BatchNorm running statistics re-estimated from its own samples.

G_ema's running statistics are an EMA of G's, which G measured with its own, changing
weights; they need not fit G_ema's. BigGAN (Brock et al., 2019; `accumulate_standing_stats`
in BigGAN-PyTorch) therefore resets them and runs G_ema in train mode on fresh z and labels
for a few batches with momentum None, i.e. a plain average. Here each BatchNorm's running
mean and variance become the average over `num_batches` passes of its batch mean and batch
variance. Passes use the training batch size and BatchNorm grouping (global batch, or per
device with `model.per_device_bn`), so every batch statistic is of the kind training
normalised with; variances are flax's biased batch variances, the quantity flax keeps.
Spectral-norm vectors advanced by the train-mode passes are discarded.
"""

from typing import Any, Callable, Iterable, Tuple

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax.sharding import Mesh

from an_flax.evaluation.generate import sample_z
from an_flax.runtime import mesh as mesh_lib

Variables = Any
# (params, state, z, labels, rng) -> (images, new state, orthogonal penalty): G in train
# mode, as `an_flax.training.state.generator_train_apply` builds it.
TrainApply = Callable[..., Tuple[jax.Array, Variables, jax.Array]]


def _report_batch_statistics(next_fun, args, kwargs, context):
  """Interceptor: a train-mode BatchNorm leaves its batch statistics, not running averages.

  Flax updates `ra <- m * ra + (1 - m) * batch`; with the momentum m read from the module,
  `batch = (ra_new - m * ra_old) / (1 - m)`. Callers pass zero running statistics, so
  this is `ra_new / (1 - m)` with no cancellation.
  """
  module = context.module
  if not (isinstance(module, nn.BatchNorm) and context.method_name == "__call__"
          and module.is_mutable_collection("batch_stats")):
    return next_fun(*args, **kwargs)
  old = {name: module.get_variable("batch_stats", name) for name in ("mean", "var")}
  out = next_fun(*args, **kwargs)
  for name, previous in old.items():
    new = module.get_variable("batch_stats", name)
    module.put_variable("batch_stats", name,
                        (new - module.momentum * previous) / (1.0 - module.momentum))
  return out


def standing_statistics(train_apply: TrainApply, params: Variables, state: Variables,
                        latents: Iterable[Tuple[jax.Array, jax.Array]], rng: jax.Array,
                        mesh: Mesh) -> Variables:
  """`state` with 'batch_stats' set to the average batch statistics over `latents`.

  `latents` yields global (z, labels) batches; `rng` seeds AN's train-mode sampling.
  Other collections of `state` are returned unchanged.
  """
  def batch_statistics(params, state, z, labels, rng):
    zeros = jax.tree.map(jnp.zeros_like, state["batch_stats"])
    with nn.intercept_methods(_report_batch_statistics):
      _, new_state, _ = train_apply(params, {**state, "batch_stats": zeros}, z, labels, rng)
    return new_state["batch_stats"]

  replicated = mesh_lib.replicated(mesh)
  batch_statistics = jax.jit(batch_statistics, out_shardings=replicated)
  total, count = None, 0
  for index, (z, labels) in enumerate(latents):
    stats = batch_statistics(params, state, z, labels, jax.random.fold_in(rng, index))
    total = stats if total is None else jax.tree.map(jnp.add, total, stats)
    count += 1
  if count == 0:
    raise ValueError("Standing statistics need at least one batch.")
  return {**state, "batch_stats": jax.tree.map(lambda t: t / count, total)}


def standing_latents(key: jax.Array, num_batches: int, batch_size: int, z_dim: int,
                     num_classes: int, truncation: float | None, mesh: Mesh
                     ) -> Iterable[Tuple[jax.Array, jax.Array]]:
  """`num_batches` global batches of z (as evaluation samples them) and uniform labels."""
  sharding = mesh_lib.batch_sharding(mesh)
  for index in range(num_batches):
    z_key, label_key = jax.random.split(jax.random.fold_in(key, index))
    z = sample_z(z_key, batch_size, z_dim, truncation)
    labels = jax.random.randint(label_key, (batch_size,), 0, num_classes, jnp.int32)
    yield jax.device_put(z, sharding), jax.device_put(labels, sharding)
