"""The train state: one pytree with G, D, both optimisers and G's EMA; how G's part advances.

Everything a run needs to continue bit-for-bit lives here, so a checkpoint is
just this pytree. Optax transformations are not state; they are rebuilt from
the config (`make_optimizers`) and passed to the step. Evaluation restores
checkpoints through this module (and re-estimates G's BatchNorm statistics
with `generator_train_apply`), never through the task or its step.
"""

from typing import Any, Callable, Optional, Tuple

import flax
import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import optax
from jax.sharding import Mesh, PartitionSpec as P

from an_flax.models import sum_sown_losses
from an_flax.runtime import mesh as mesh_lib
from an_flax.training import lecam as lecam_lib
from an_flax.training import ortho

Variables = Any  # nested dict of arrays
# (params, state, z, labels, rng) -> (images, new state, summed orthogonal penalty)
GenerateFn = Callable[..., Tuple[jax.Array, Variables, jax.Array]]

# Variable collections that are state (not parameters) of each network.
G_STATE_COLLECTIONS = ("batch_stats", "spectral")
D_STATE_COLLECTIONS = ("spectral",)


@flax.struct.dataclass
class TrainState:
  """G/D parameters and state, optimiser states, G's EMA, step and PRNG key.

  `g_state` holds G's 'batch_stats' and 'spectral' collections, `d_state` D's
  'spectral'. `ema_params` / `ema_state` average G's parameters AND its
  state, as BigGAN-PyTorch does for its buffers. `step` counts G updates.
  `rng` is a raw uint32 key, split once per step. `lecam`: LeCam's anchors when the
  config uses LeCam (`loss.lecam_lambda > 0`), else None, and then not in a checkpoint at
  all, so the checkpoints of runs without LeCam are those of a state without the field.
  """

  step: jax.Array
  rng: jax.Array
  g_params: Variables
  g_state: Variables
  d_params: Variables
  d_state: Variables
  g_opt_state: optax.OptState
  d_opt_state: optax.OptState
  ema_params: Variables
  ema_state: Variables
  lecam: Optional[lecam_lib.LeCamAnchors] = None


def _state_dict(state: TrainState) -> dict:
  """The fields of `state` as a checkpoint holds them: None fields (no LeCam) left out."""
  return {field: flax.serialization.to_state_dict(getattr(state, field))
          for field in state.__dataclass_fields__ if getattr(state, field) is not None}


def _from_state_dict(state: TrainState, saved: dict) -> TrainState:
  return state.replace(**{
      field: flax.serialization.from_state_dict(getattr(state, field), saved[field],
                                                name=field)
      for field in state.__dataclass_fields__ if getattr(state, field) is not None})


flax.serialization.register_serialization_state(TrainState, _state_dict, _from_state_dict,
                                                 override=True)


def initial_lecam(config: ml_collections.ConfigDict) -> Optional[lecam_lib.LeCamAnchors]:
  """LeCam's starting anchors when the config uses LeCam, else None."""
  return lecam_lib.init_anchors() if config.loss.lecam_lambda > 0 else None


def learning_rate_schedule(lr: float, config: ml_collections.ConfigDict,
                           updates_per_step: int = 1) -> optax.Schedule:
  """Constant lr, or linear decay to 0 from `optim.decay_start` to `num_train_steps`.

  Both are in G steps; `updates_per_step` converts D's update count (d_steps
  per G step) so both networks decay together.
  """
  if config.optim.lr_decay == "none":
    return optax.constant_schedule(lr)
  decay = optax.linear_schedule(
      lr, 0.0, transition_steps=max(config.num_train_steps - config.optim.decay_start, 1),
      transition_begin=config.optim.decay_start)
  return lambda count: decay(count // updates_per_step)


def make_optimizers(config: ml_collections.ConfigDict
                    ) -> Tuple[optax.GradientTransformation, optax.GradientTransformation]:
  """(G, D) Adam with TTUR learning rates and the config's betas and epsilon; with
  `optim.g_ortho > 0` G's gradients first gain BigGAN's orthogonal regularisation
  (`ortho.add_orthogonal_gradients`, its shared embedding left out)."""
  optim = config.optim
  adam = lambda lr, updates_per_step: optax.adam(
      learning_rate_schedule(lr, config, updates_per_step), b1=optim.b1, b2=optim.b2,
      eps=optim.eps)
  g_tx = adam(optim.g_lr, 1)
  if optim.g_ortho > 0:
    g_tx = optax.chain(ortho.add_orthogonal_gradients(optim.g_ortho), g_tx)
  return g_tx, adam(optim.d_lr, optim.d_steps)


def split_variables(variables: Variables, collections: Tuple[str, ...]
                    ) -> Tuple[Variables, Variables]:
  """(params, {collection: ...}) of a network's variables; absent collections are empty."""
  variables = flax.core.unfreeze(variables)
  return variables["params"], {name: variables.get(name, {}) for name in collections}


def train_state_from_variables(g_variables: Variables, d_variables: Variables,
                               g_tx: optax.GradientTransformation,
                               d_tx: optax.GradientTransformation, rng: jax.Array,
                               step: int = 0,
                               lecam: Optional[lecam_lib.LeCamAnchors] = None) -> TrainState:
  """The state of networks with these variables: fresh optimiser states, G_ema = G,
  LeCam's anchors `lecam` (`initial_lecam(config)`)."""
  g_params, g_state = split_variables(g_variables, G_STATE_COLLECTIONS)
  d_params, d_state = split_variables(d_variables, D_STATE_COLLECTIONS)
  return TrainState(
      step=jnp.asarray(step, jnp.int32), rng=rng,
      g_params=g_params, g_state=g_state, d_params=d_params, d_state=d_state,
      g_opt_state=g_tx.init(g_params), d_opt_state=d_tx.init(d_params),
      ema_params=g_params, ema_state=g_state, lecam=lecam)


def create_train_state(config: ml_collections.ConfigDict, generator: nn.Module,
                       discriminator: nn.Module, g_tx: optax.GradientTransformation,
                       d_tx: optax.GradientTransformation, rng: jax.Array) -> TrainState:
  """Initialises both networks on a dummy batch of one example. Jit-able."""
  g_key, d_key, state_key = jax.random.split(rng, 3)
  size = config.model.resolution
  z = jnp.zeros((1, config.model.z_dim), jnp.float32)
  labels = jnp.zeros((1,), jnp.int32)
  images = jnp.zeros((1, size, size, 3), jnp.float32)
  return train_state_from_variables(
      generator.init(g_key, z, labels, train=False),
      discriminator.init(d_key, images, labels, train=False), g_tx, d_tx, state_key,
      lecam=initial_lecam(config))


def update_ema(ema: Variables, new: Variables, step: jax.Array,
               config: ml_collections.ConfigDict) -> Variables:
  """ema <- decay * ema + (1 - decay) * new from `ema.start_step` on, a copy before.

  By hand rather than `optax.ema`: it must cover parameters and BN/SN state
  alike and copy (not debias) before the start step, as BigGAN-PyTorch does.
  """
  decay = jnp.where(step >= config.ema.start_step, config.ema.decay, 0.0)
  return jax.tree.map(lambda e, n: (decay * e + (1.0 - decay) * n).astype(n.dtype), ema, new)


def generator_train_apply(generator: nn.Module, mesh: Mesh, per_device_bn: bool) -> GenerateFn:
  """G in train mode, advancing its BatchNorm statistics and spectral-norm vectors.

  Under plain jit BatchNorm sees the global batch. With `per_device_bn` G runs in
  shard_map, so each device normalises its own rows (what PyTorch DataParallel
  baselines effectively did); the running statistics are then averaged over devices
  so the state stays replicated.
  """

  def generate(params, state, z, labels, rng):
    images, mutated = generator.apply(
        {"params": params, **state}, z, labels, train=True, rngs={"sampling": rng},
        mutable=["batch_stats", "spectral", "losses"])
    new_state = {name: mutated.get(name, {}) for name in state}
    return images, new_state, sum_sown_losses(mutated.get("losses", {}))

  if not per_device_bn:
    return generate

  def per_device(params, state, z, labels, rng):
    rng = jax.random.fold_in(rng, jax.lax.axis_index(mesh_lib.DATA_AXIS))
    images, new_state, orthogonal = generate(params, state, z, labels, rng)
    new_state = dict(new_state, batch_stats=jax.lax.pmean(
        new_state.get("batch_stats", {}), mesh_lib.DATA_AXIS))
    return images, new_state, orthogonal

  data = P(mesh_lib.DATA_AXIS)
  return jax.shard_map(per_device, mesh=mesh, in_specs=(P(), P(), data, data, P()),
                       out_specs=(data, P(), P()))
