"""Inpainting train state, the compiled WGAN-GP step, and the compiled inpaint function.

Like the GAN task's step: one jit over a mesh,
state replicated and donated, batch split along 'data' on dimension 1. A
step runs `critic_steps` critic updates, each on its own batch and its own
random holes, then one generator update on one more batch:

  critics:   WGAN(global: whole composite, local: hole patch)
             + gradient_penalty_weight * (masked GP global + masked GP local)
  generator: for coarse and refined (weights coarse/refined_l1_weight):
               hole_l1_weight * discounted L1 on the hole
             + known_l1_weight * L1 on the known region
             + adversarial_weight * WGAN generator loss of both critics
             + orthogonal_weight * AN orthogonality + id_mrf_weight * ID-MRF(refined patch)

Holes are drawn on device from the step's key (`an_flax.data.masks`). The critic
updates run as a `lax.scan`, unrolled on the CPU (`an_flax.runtime.update_loop`).
"""

from typing import Any, Callable, Dict, Tuple

import flax
import jax
import jax.numpy as jnp
import ml_collections
import optax
from jax.sharding import Mesh

from an_flax.data import masks as masks_lib
from an_flax.inpainting import losses
from an_flax.inpainting.vgg19 import VGG19Features
from an_flax.models import inpainting, non_local, sum_sown_losses
from an_flax.metrics.preprocess import uint8_to_float
from an_flax.runtime import mesh as mesh_lib
from an_flax.runtime import update_loop
from an_flax.runtime.step_io import Batch, Metrics, all_finite


@flax.struct.dataclass
class InpaintingState:
  """Generator and critics' parameters, their Adam states, the step and a raw PRNG key."""

  step: jax.Array
  rng: jax.Array
  g_params: Any
  d_params: Any
  g_opt_state: optax.OptState
  d_opt_state: optax.OptState


def build_models(config: ml_collections.ConfigDict
                 ) -> Tuple[inpainting.InpaintingGenerator, inpainting.InpaintingCritics]:
  model = config.model
  options = non_local.options_from(model.non_local, model)
  return (inpainting.InpaintingGenerator(model.width, model.non_local, options),
          inpainting.InpaintingCritics(model.critic_width))


def make_optimizers(config: ml_collections.ConfigDict
                    ) -> Tuple[optax.GradientTransformation, optax.GradientTransformation]:
  """Adam for both networks with one learning rate, as the released code."""
  adam = lambda: optax.adam(config.optim.lr, b1=config.optim.b1, b2=config.optim.b2)
  return adam(), adam()


def image_size(config: ml_collections.ConfigDict) -> Tuple[int, int]:
  return config.dataset.image_size, config.dataset.image_size


def create_state(config: ml_collections.ConfigDict, generator: inpainting.InpaintingGenerator,
                 critics: inpainting.InpaintingCritics, g_tx: optax.GradientTransformation,
                 d_tx: optax.GradientTransformation, rng: jax.Array) -> InpaintingState:
  """Initial state: parameters from `config.seed`, `rng` the training key. Jit-able.

  Parameters are drawn with RBG keys: XLA compiles the ~60 threefry-based
  initialisers about ten times slower on CPU. Training randomness (holes,
  interpolates, AN sampling) uses the threefry key `rng`.
  """
  g_key, d_key = jax.random.split(jax.random.key(config.seed, impl="rbg"))
  size = image_size(config)
  box = masks_lib.hole_box_size(size, config.masks.kind)
  g_params = generator.init(g_key, jnp.zeros((1, *size, 3)), jnp.zeros((1, *size, 1)))["params"]
  d_params = critics.init(d_key, jnp.zeros((1, *size, 3)), jnp.zeros((1, *box, 3)))["params"]
  return InpaintingState(
      step=jnp.zeros((), jnp.int32), rng=rng, g_params=g_params, d_params=d_params,
      g_opt_state=g_tx.init(g_params), d_opt_state=d_tx.init(d_params))


def make_train_step(config: ml_collections.ConfigDict,
                    generator: inpainting.InpaintingGenerator,
                    critics: inpainting.InpaintingCritics,
                    g_tx: optax.GradientTransformation, d_tx: optax.GradientTransformation,
                    mesh: Mesh, critic_loop: str | None = None
                    ) -> Callable[[InpaintingState, Batch, Any], Tuple[InpaintingState, Metrics]]:
  """(state, batch, vgg_variables) -> (state, metrics), compiled.

  `batch['image']` is uint8 (critic_steps + 1, N, H, W, 3): one batch per
  critic update, the last for the generator. `vgg_variables` are the VGG19
  weights when `loss.id_mrf_weight > 0`, else {}. `critic_loop` is how the critic
  updates run: 'scan' or 'unroll' (default: the backend's, `update_loop.default_loop()`).
  """
  critic_loop = update_loop.resolve_loop(critic_loop)
  loss_cfg, size = config.loss, image_size(config)
  box = masks_lib.hole_box_size(size, config.masks.kind)
  batch_spec = mesh_lib.batch_sharding(mesh)
  vgg = VGG19Features()

  def sample_masks(key: jax.Array, batch_size: int) -> Tuple[jax.Array, jax.Array]:
    mask, corners = masks_lib.sample_training_masks(key, batch_size, size, config.masks.kind)
    return (jax.lax.with_sharding_constraint(mask, batch_spec),
            jax.lax.with_sharding_constraint(corners, batch_spec))

  def generate(params, real, mask, key):
    (coarse, refined), mutated = generator.apply(
        {"params": params}, real, mask, train=True, rngs={"sampling": key}, mutable=["losses"])
    return coarse, refined, sum_sown_losses(mutated.get("losses", {}))

  def critic(params, method: str) -> Callable[[jax.Array], jax.Array]:
    return lambda x: critics.apply({"params": params}, x, method=method)

  def critic_update(g_params, carry, inputs):
    d_params, d_opt_state = carry
    images, key = inputs
    mask_key, g_key, global_key, local_key = jax.random.split(key, 4)
    real = uint8_to_float(images)
    mask, corners = sample_masks(mask_key, real.shape[0])
    _, refined, _ = generate(g_params, real, mask, g_key)
    fake = jax.lax.stop_gradient(inpainting.composite(refined, real * (1 - mask), mask))
    crop = lambda x: masks_lib.crop_patches(x, corners, box)
    global_mix = losses.random_interpolates(global_key, real, fake)
    local_mix = losses.random_interpolates(local_key, crop(real), crop(fake))

    def loss_fn(params):
      global_critic, local_critic = critic(params, "global_critic"), critic(params, "local_critic")
      wgan = (losses.wgan_critic_loss(global_critic(real), global_critic(fake))
              + losses.wgan_critic_loss(local_critic(crop(real)), local_critic(crop(fake))))
      penalty = (losses.gradient_penalty(global_critic, global_mix, mask)
                 + losses.gradient_penalty(local_critic, local_mix, crop(mask)))
      total = wgan + loss_cfg.gradient_penalty_weight * penalty
      return total, {"d_loss": total, "d_wasserstein": -wgan, "d_gradient_penalty": penalty}

    grads, metrics = jax.grad(loss_fn, has_aux=True)(d_params)
    updates, d_opt_state = d_tx.update(grads, d_opt_state, d_params)
    return (optax.apply_updates(d_params, updates), d_opt_state), metrics

  def generator_loss(params, d_params, vgg_variables, images, key):
    mask_key, g_key = jax.random.split(key)
    real = uint8_to_float(images)
    mask, corners = sample_masks(mask_key, real.shape[0])
    coarse, refined, orthogonal = generate(params, real, mask, g_key)
    fake = inpainting.composite(refined, real * (1 - mask), mask)
    crop = lambda x: masks_lib.crop_patches(x, corners, box)
    discount = losses.spatial_discount(mask, loss_cfg.discount_gamma)
    stages = ((loss_cfg.coarse_l1_weight, coarse), (loss_cfg.refined_l1_weight, refined))
    hole = sum(w * losses.masked_l1(x, real, mask, discount) for w, x in stages)
    known = sum(w * losses.masked_l1(x, real, 1 - mask) for w, x in stages)
    adversarial = (losses.wgan_generator_loss(critic(d_params, "global_critic")(fake))
                   + losses.wgan_generator_loss(critic(d_params, "local_critic")(crop(fake))))
    # Each term as it enters the loss (weighted), so the logged terms add up to g_loss.
    terms = {"g_hole_l1": loss_cfg.hole_l1_weight * hole,
             "g_known_l1": loss_cfg.known_l1_weight * known,
             "g_adversarial": loss_cfg.adversarial_weight * adversarial,
             "g_orthogonal": loss_cfg.orthogonal_weight * orthogonal}
    if loss_cfg.id_mrf_weight > 0:
      features = lambda x: vgg.apply(vgg_variables, x)
      terms["g_id_mrf"] = loss_cfg.id_mrf_weight * losses.id_mrf_loss(
          features(crop(refined)), features(crop(real)))
    total = sum(terms.values())
    return total, {"g_loss": total, **terms}

  def train_step(state: InpaintingState, batch: Batch, vgg_variables: Any
                 ) -> Tuple[InpaintingState, Metrics]:
    rng, step_rng = jax.random.split(state.rng)
    keys = jax.random.split(step_rng, config.optim.critic_steps + 1)
    (d_params, d_opt_state), d_metrics = update_loop.run_updates(
        lambda carry, x: critic_update(state.g_params, carry, x),
        (state.d_params, state.d_opt_state), (batch["image"][:-1], keys[:-1]), critic_loop)
    grads, g_metrics = jax.grad(generator_loss, has_aux=True)(
        state.g_params, d_params, vgg_variables, batch["image"][-1], keys[-1])
    updates, g_opt_state = g_tx.update(grads, state.g_opt_state, state.g_params)
    g_params = optax.apply_updates(state.g_params, updates)
    new_state = state.replace(step=state.step + 1, rng=rng, g_params=g_params,
                              d_params=d_params, g_opt_state=g_opt_state,
                              d_opt_state=d_opt_state)
    metrics = {name: jnp.mean(value) for name, value in d_metrics.items()}
    metrics.update(g_metrics, finite=all_finite((g_params, d_params)).astype(jnp.float32))
    return new_state, metrics

  replicated = mesh_lib.replicated(mesh)
  return jax.jit(train_step, donate_argnums=0,
                 in_shardings=(replicated, mesh_lib.batch_sharding(mesh, 1), replicated),
                 out_shardings=(replicated, replicated))


def make_inpaint_fn(generator: inpainting.InpaintingGenerator, mesh: Mesh
                    ) -> Callable[[Any, jax.Array, jax.Array], Dict[str, jax.Array]]:
  """(g_params, uint8 images, masks) -> {'input', 'coarse', 'refined', 'composite'
  [, 'layout']}, eval mode (deterministic), images in [-1, 1], split over 'data'.

  'input' shows the hole in white; 'layout' is the AN layout (N, H/4, W/4, n).
  """

  def inpaint(g_params, images, mask):
    real = uint8_to_float(images)
    (coarse, refined), variables = generator.apply(
        {"params": g_params}, real, mask, train=False, mutable=["intermediates"])
    masked = real * (1 - mask)
    out = {"input": masked + mask, "coarse": coarse, "refined": refined,
           "composite": inpainting.composite(refined, masked, mask)}
    layouts = inpainting.attentive_norm_layouts(variables.get("intermediates", {}))
    if layouts:
      out["layout"] = layouts[0]
    return out

  data = mesh_lib.batch_sharding(mesh)
  return jax.jit(inpaint, in_shardings=(mesh_lib.replicated(mesh), data, data),
                 out_shardings=data)
