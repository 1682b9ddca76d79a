"""The jitted training step (d_steps D updates, one G update, EMA) and G_ema sampling.

Batches arrive as uint8 images of shape (d_steps * accumulation_steps, B, H, W, 3) and int32
labels (d_steps * accumulation_steps, B): each D update sees its own real batches, as in
SA-GAN and SN-GAN. Images become [-1, 1] float32 on device; the networks compute in
`config.model.dtype` with float32 parameters and statistics.

Fake images use labels drawn uniformly over the classes and fresh noise for
every D update and for the G update. G runs in train mode in D updates too, so
its BN running statistics and SN vectors advance there, as in the PyTorch
baselines. D runs once on the interleaved real and fake batch per D update,
so its SN vectors advance once per D update, and once more in the G update's
D pass when `optim.g_step_advances_d_spectral` (as in StudioGAN and
BigGAN-PyTorch, where that pass runs D in train mode).

The recipe switches of StudioGAN and BigGAN-PyTorch, all off by default:
`optim.accumulation_steps` (each update's gradient is the mean over that many micro-batches
of B, see `accumulate`), `augment.diffaug_policy` (DiffAugment of every image D sees, real
and fake, in D's and G's updates; G's gradient flows through it) and `loss.lecam_lambda`
(LeCam's term in D's loss, its anchors in the train state). BigGAN's `--G_ortho` is a change
of G's gradients in its optimiser (`state.make_optimizers`).

The D updates run as a `lax.scan` over the stacked batches, so the program does
not grow with `d_steps`, except on the CPU, where they are unrolled
(`an_flax.runtime.update_loop` says why); micro-batches the same way.
"""

from typing import Any, Callable, Dict, Tuple

import flax
import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import optax
from jax.sharding import Mesh

from an_flax.metrics.preprocess import uint8_to_float
from an_flax.models import sum_sown_losses
from an_flax.runtime import mesh as mesh_lib
from an_flax.runtime import update_loop
from an_flax.runtime.step_io import Batch, Metrics, all_finite
from an_flax.training import diffaug, lecam, losses
from an_flax.training.state import TrainState, generator_train_apply, update_ema

# (params, carry, micro-batch) -> (gradients, carry, metrics)
Gradients = Callable[[Any, Any, Any], Tuple[Any, Any, Metrics]]


def accumulate(gradients: Gradients, params: Any, carry: Any, inputs: Any, steps: int,
               loop: str) -> Tuple[Any, Any, Metrics]:
  """The mean of `gradients` over `steps` micro-batches, as PyTorch's accumulation loops.

  A scan (or, on the CPU, its unrolled form) over the micro-batches, the leading axis of
  `inputs`, rather than `optax.MultiSteps`: MultiSteps spreads the micro-batches over as
  many calls of the step, so G's gradients would meet a D that has not yet finished its
  updates and the G / D alternation would not be StudioGAN's or BigGAN-PyTorch's; here the
  whole G / D step stays one program. `carry` (BatchNorm statistics, spectral vectors,
  LeCam's anchors) runs through the micro-batches in order, so each micro-batch is
  normalised by its own statistics and the running averages move once per micro-batch, as
  torch's BatchNorm moves them in those loops. `steps == 1`: one call on `inputs` as they
  are (no leading axis), the step as it was without accumulation.
  """
  if steps == 1:
    return gradients(params, carry, inputs)

  def body(sums, micro):
    total, carry = sums
    grads, carry, metrics = gradients(params, carry, micro)
    return (jax.tree.map(jnp.add, total, grads), carry), metrics

  zeros = jax.tree.map(jnp.zeros_like, params)
  (total, carry), metrics = update_loop.run_updates(body, (zeros, carry), inputs, loop)
  return (jax.tree.map(lambda g: g / steps, total), carry,
          jax.tree.map(lambda m: jnp.mean(m, axis=0), metrics))


def _micro_keys(key: jax.Array, steps: int) -> jax.Array:
  """A key per micro-batch, as `accumulate` takes them (the key itself for one)."""
  return key if steps == 1 else jax.random.split(key, steps)


def make_train_step(config: ml_collections.ConfigDict, generator: nn.Module,
                    discriminator: nn.Module, g_tx: optax.GradientTransformation,
                    d_tx: optax.GradientTransformation, mesh: Mesh,
                    d_loop: str | None = None
                    ) -> Callable[[TrainState, Batch], Tuple[TrainState, Metrics]]:
  """The jitted step: state replicated and donated, batch split on dimension 1.

  `d_loop` is how the D updates and the micro-batches run: 'scan' or 'unroll' (default:
  the backend's, `update_loop.default_loop()`).
  """
  d_loop = update_loop.resolve_loop(d_loop)
  advance_d_spectral = config.optim.g_step_advances_d_spectral
  generate = generator_train_apply(generator, mesh, config.model.per_device_bn)
  orthogonal_weight = config.loss.orthogonal_weight
  num_classes, z_dim = config.model.num_classes, config.model.z_dim
  d_steps, micro_steps = config.optim.d_steps, config.optim.accumulation_steps
  policy = config.augment.diffaug_policy
  lecam_on = config.loss.lecam_lambda > 0
  batch_spec = mesh_lib.batch_sharding(mesh)

  def sample_latents(rng: jax.Array, batch_size: int) -> Tuple[jax.Array, jax.Array]:
    z_key, label_key = jax.random.split(rng)
    z = jax.random.normal(z_key, (batch_size, z_dim), jnp.float32)
    labels = jax.random.randint(label_key, (batch_size,), 0, num_classes, jnp.int32)
    return (jax.lax.with_sharding_constraint(z, batch_spec),
            jax.lax.with_sharding_constraint(labels, batch_spec))

  def augment(images: jax.Array, d_key: jax.Array) -> jax.Array:
    """DiffAugment of what D sees (per example), its draws from D's key of the pass."""
    if not policy:
      return images
    with jax.named_scope("diffaug"):
      return diffaug.diff_augment(images, jax.random.fold_in(d_key, 1), policy)

  def lecam_term(logits: jax.Array, anchors: Any, step: jax.Array) -> Tuple[jax.Array, Any]:
    loss = config.loss
    return lecam.lecam_term(anchors, logits[:, 0], logits[:, 1], step, loss.lecam_lambda,
                            loss.lecam_ema_decay, loss.lecam_ema_start_iter)

  # Named scopes label the parts of the step in profiles (benchmarks/step_profile.py).
  def d_gradients(d_params, carry, micro, g_params, step):
    """D's gradient on one real batch and as many fakes; the states it advances."""
    d_state, g_state, anchors = carry
    key, images, labels = micro
    latent_key, g_key, d_key = jax.random.split(key, 3)
    z, fake_labels = sample_latents(latent_key, labels.shape[0])
    fake, g_state, _ = generate(g_params, g_state, z, fake_labels, g_key)
    with jax.named_scope("interleave"):
      real = uint8_to_float(images)
      # Interleave (not concatenate) real and fake: every device keeps its rows.
      both = jnp.stack([real, jax.lax.stop_gradient(fake)], axis=1).reshape(
          (-1,) + real.shape[1:])
      both_labels = jnp.stack([labels, fake_labels], axis=1).reshape(-1)
    both = augment(both, d_key)

    def loss_fn(params):
      logits, mutated = discriminator.apply(
          {"params": params, **d_state}, both, both_labels, train=True,
          rngs={"sampling": d_key}, mutable=["spectral", "losses"])
      logits = logits.reshape(-1, 2)
      hinge = losses.discriminator_hinge(logits[:, 0], logits[:, 1])
      orthogonal = sum_sown_losses(mutated.get("losses", {}))
      # The adversarial loss and the weighted penalty apart: what each adds to the loss.
      metrics = {"d_loss": hinge, "d_orthogonal": orthogonal_weight * orthogonal,
                 "d_real": jnp.mean(logits[:, 0]), "d_fake": jnp.mean(logits[:, 1])}
      loss, new_anchors = hinge + orthogonal_weight * orthogonal, anchors
      if lecam_on:
        metrics["d_lecam"], new_anchors = lecam_term(logits, anchors, step)
        loss = loss + metrics["d_lecam"]
      new_state = {name: mutated.get(name, {}) for name in d_state}
      return loss, (new_state, new_anchors, metrics)

    grads, (d_state, anchors, metrics) = jax.grad(loss_fn, has_aux=True)(d_params)
    return grads, (d_state, g_state, anchors), metrics

  @jax.named_scope("d_update")
  def d_update(carry, g_params, step, key, images, labels):
    d_params, d_state, d_opt_state, g_state, anchors = carry
    gradients = lambda params, carry, micro: d_gradients(params, carry, micro, g_params, step)
    grads, (d_state, g_state, anchors), metrics = accumulate(
        gradients, d_params, (d_state, g_state, anchors),
        (_micro_keys(key, micro_steps), images, labels), micro_steps, d_loop)
    with jax.named_scope("adam"):
      updates, d_opt_state = d_tx.update(grads, d_opt_state, d_params)
      d_params = optax.apply_updates(d_params, updates)
    return (d_params, d_state, d_opt_state, g_state, anchors), metrics

  def g_gradients(g_params, carry, key, d_params, batch_size):
    """G's gradient on one batch of fakes; the states it advances."""
    g_state, d_state = carry
    latent_key, g_key, d_key = jax.random.split(key, 3)
    z, labels = sample_latents(latent_key, batch_size)

    def g_loss_fn(params):
      fake, new_g_state, orthogonal = generate(params, g_state, z, labels, g_key)
      logits, mutated = discriminator.apply(
          {"params": d_params, **d_state}, augment(fake, d_key), labels, train=True,
          rngs={"sampling": d_key}, mutable=["spectral", "losses"])
      new_d_state = {name: mutated.get(name, {}) for name in d_state}
      hinge = losses.generator_hinge(logits)
      return hinge + orthogonal_weight * orthogonal, (new_g_state, new_d_state, hinge,
                                                      orthogonal)

    grads, (g_state, g_step_d_state, hinge, orthogonal) = jax.grad(
        g_loss_fn, has_aux=True)(g_params)
    if advance_d_spectral:
      d_state = g_step_d_state
    return grads, (g_state, d_state), {"g_loss": hinge, "g_orthogonal": orthogonal}

  def train_step(state: TrainState, batch: Batch) -> Tuple[TrainState, Metrics]:
    rng, step_rng = jax.random.split(state.rng)
    d_keys = jax.random.split(step_rng, d_steps + 1)
    carry = (state.d_params, state.d_state, state.d_opt_state, state.g_state, state.lecam)
    update = lambda carry, inputs: d_update(carry, state.g_params, state.step, *inputs)
    images, labels = batch["image"], batch["label"]
    if micro_steps > 1:  # (d_steps * micro_steps, B, ...) -> (d_steps, micro_steps, B, ...)
      images, labels = (x.reshape((d_steps, micro_steps) + x.shape[1:]) for x in (images, labels))
    carry, d_metrics = update_loop.run_updates(update, carry, (d_keys[1:], images, labels),
                                               d_loop)
    d_params, d_state, d_opt_state, g_state, anchors = carry

    with jax.named_scope("g_update"):
      gradients = lambda params, carry, key: g_gradients(params, carry, key, d_params,
                                                         batch["label"].shape[1])
      grads, (g_state, d_state), g_metrics = accumulate(
          gradients, state.g_params, (g_state, d_state), _micro_keys(d_keys[0], micro_steps),
          micro_steps, d_loop)
      with jax.named_scope("adam"):
        updates, g_opt_state = g_tx.update(grads, state.g_opt_state, state.g_params)
        g_params = optax.apply_updates(state.g_params, updates)

    step = state.step + 1
    with jax.named_scope("ema"):
      ema_params = update_ema(state.ema_params, g_params, step, config)
      ema_state = update_ema(state.ema_state, g_state, step, config)
    new_state = state.replace(
        step=step, rng=rng, g_params=g_params, g_state=g_state, d_params=d_params,
        d_state=d_state, g_opt_state=g_opt_state, d_opt_state=d_opt_state,
        ema_params=ema_params, ema_state=ema_state, lecam=anchors)
    metrics = {name: jnp.mean(value) for name, value in d_metrics.items()}
    with jax.named_scope("finite"):
      finite = all_finite((g_params, d_params)).astype(jnp.float32)
    metrics.update(g_loss=g_metrics["g_loss"],
                   g_orthogonal=orthogonal_weight * g_metrics["g_orthogonal"], finite=finite)
    return new_state, metrics

  replicated = mesh_lib.replicated(mesh)
  return jax.jit(train_step, in_shardings=(replicated, mesh_lib.batch_sharding(mesh, 1)),
                 out_shardings=(replicated, replicated), donate_argnums=0)


def _layouts(intermediates: Any) -> Dict[str, jax.Array]:
  """{'module/path': layout (N, h, w, n)} of every AN module in `intermediates`."""
  flat = flax.traverse_util.flatten_dict(flax.core.unfreeze(intermediates), sep="/")
  return {path.removesuffix("/layout"): value[0] for path, value in flat.items()
          if path.endswith("layout")}


def make_sample_fn(generator: nn.Module, discriminator: nn.Module, mesh: Mesh
                   ) -> Callable[[TrainState, jax.Array, jax.Array], Tuple[jax.Array, Dict, Dict]]:
  """(state, z, labels) -> (G_ema images, G_ema layouts, D layouts), eval mode.

  Inputs are small and replicated: sample sheets are not worth sharding.
  """

  def sample(state: TrainState, z: jax.Array, labels: jax.Array):
    images, g_vars = generator.apply(
        {"params": state.ema_params, **state.ema_state}, z, labels, train=False,
        mutable=["intermediates"])
    _, d_vars = discriminator.apply(
        {"params": state.d_params, **state.d_state}, images, labels, train=False,
        mutable=["intermediates"])
    return (images, _layouts(g_vars.get("intermediates", {})),
            _layouts(d_vars.get("intermediates", {})))

  replicated = mesh_lib.replicated(mesh)
  return jax.jit(sample, in_shardings=replicated, out_shardings=replicated)
