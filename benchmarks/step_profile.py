"""Where a training step's time goes, ours (XLA) next to StudioGAN's eager PyTorch step.

  python benchmarks/step_profile.py [--setting=32]

Same model, batch and optimiser as table 4 of benchmarks/train_step_time.py. Each part of
the step runs alone, as its own compiled program (ours) or eager code (PyTorch), on the
tensors the step gives it; the parts take turns with the whole step
(`timing.interleaved_medians`), so that every row of one column comes from one
measurement:

  G forward           G in train mode on a batch of B (the D update's fake batch)
  G forward+backward  the same and the gradient of a random projection of its images
                      with respect to G's parameters (the G update's G part)
  D forward           D in train mode on the real and the fake batch (2B images)
  D forward+backward  and the gradient of the hinge loss with respect to D's parameters
  D input gradient    D on B fakes and the gradient with respect to its input (the G
                      update's D part: D's parameters are frozen there)
  spectral norm       one power iteration and the division of every kernel of G and D
  Adam and EMA        both optimisers' updates from given gradients, and G's EMA
  whole step          the step itself (ours: the compiled step; PyTorch: StudioGAN's)

Why not a profiler trace: on XLA:CPU the JAX profiler does not see the work of Eigen's
multi-threaded convolutions (the thunk ends when the work is handed to Eigen's threads),
and tracing slowed our step about twofold; timing the parts alone measures both
frameworks the same way. The parts' sum differs from the whole step by what a whole
program shares (fusion across parts, one dispatch) or adds (sampling, losses, copies).
Writes benchmarks/results/step_profile_<device>_<setting>.md.
"""

import os
import re
import sys
from typing import Any, Callable, Dict, Tuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from absl import app, flags

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from an_flax.runtime import xla_cpu  # pylint: disable=g-import-not-at-top
xla_cpu.use()  # before JAX compiles: the options train.py runs with

from an_flax.models import build_models  # pylint: disable=g-import-not-at-top
from an_flax.training import losses, state as state_lib
from benchmarks import compiled_step, report, timing

_SETTING = flags.DEFINE_enum("setting", "32", ["32", "128"],
                             "32: the 32x32 SN-GAN at batch 16; 128: the 128x128 at batch 4.")

PARTS = ("G forward", "G forward+backward", "D forward", "D forward+backward",
         "D input gradient", "spectral norm", "Adam and EMA", "whole step")
Call = Tuple[Callable[..., Any], Tuple[Any, ...]]


def our_parts(step: compiled_step.OurStep) -> Dict[str, Call]:
  """Each part of our step as a jitted function and its arguments."""
  config = step.config
  state = jax.tree.map(jnp.copy, step.state)  # the whole step donates its own
  generator, discriminator = build_models(config.model)
  batch, z_dim = config.batch_size, config.model.z_dim
  key = jax.random.PRNGKey(1)
  z = jax.random.normal(key, (batch, z_dim))
  labels = jnp.arange(batch) % config.model.num_classes
  images = jax.random.uniform(key, (2 * batch,) + step.batch["image"].shape[2:], minval=-1)
  both_labels = jnp.concatenate([labels, labels])
  g_variables = {"params": state.g_params, **state.g_state}
  d_variables = {"params": state.d_params, **state.d_state}

  def g_forward(g_params, z):
    return generator.apply({**g_variables, "params": g_params}, z, labels, train=True,
                           mutable=["batch_stats", "spectral"])[0]

  cotangent = jax.random.normal(key, (batch,) + images.shape[1:])
  g_grad = jax.grad(lambda p, z: jnp.sum(g_forward(p, z) * cotangent))

  def d_forward(d_params, x, y):
    return discriminator.apply({**d_variables, "params": d_params}, x, y, train=True,
                               mutable=["spectral"])[0]

  def d_loss(d_params, x, y):
    logits = d_forward(d_params, x, y).reshape(2, -1)
    return losses.discriminator_hinge(logits[0], logits[1])

  d_input_grad = jax.grad(lambda x: losses.generator_hinge(
      d_forward(state.d_params, x, labels)))

  kernels = [x for x in jax.tree.leaves((state.g_params, state.d_params)) if x.ndim > 1]

  def spectral_norm(kernels):
    def normalise(w):
      matrix = w.reshape(-1, w.shape[-1])
      u = jnp.ones((1, matrix.shape[-1])) / np.sqrt(matrix.shape[-1])
      v = u @ matrix.T
      v = v / jnp.linalg.norm(v)
      u = v @ matrix
      u = u / jnp.linalg.norm(u)
      return w / jnp.vdot(v @ matrix, u)
    return [normalise(w) for w in kernels]

  g_tx, d_tx = state_lib.make_optimizers(config)

  def adam_and_ema(g_grads, d_grads):
    g_updates, g_opt = g_tx.update(g_grads, state.g_opt_state, state.g_params)
    d_updates, d_opt = d_tx.update(d_grads, state.d_opt_state, state.d_params)
    g_params = optax.apply_updates(state.g_params, g_updates)
    ema = state_lib.update_ema(state.ema_params, g_params, state.step + 10**6, config)
    return g_params, optax.apply_updates(state.d_params, d_updates), g_opt, d_opt, ema

  zeros = lambda tree: jax.tree.map(jnp.zeros_like, tree)
  return {
      "G forward": (jax.jit(g_forward), (state.g_params, z)),
      "G forward+backward": (jax.jit(g_grad), (state.g_params, z)),
      "D forward": (jax.jit(d_forward), (state.d_params, images, both_labels)),
      "D forward+backward": (jax.jit(jax.grad(d_loss)), (state.d_params, images, both_labels)),
      "D input gradient": (jax.jit(d_input_grad), (images[:batch],)),
      "spectral norm": (jax.jit(spectral_norm), (kernels,)),
      "Adam and EMA": (jax.jit(adam_and_ema), (zeros(state.g_params), zeros(state.d_params))),
      "whole step": (step, ()),
  }


def torch_parts(config, constructor: Dict[str, Any]) -> Dict[str, Call]:
  """The same parts of StudioGAN's step, eager, with its modules and optimisers."""
  import torch  # pylint: disable=g-import-not-at-top
  from benchmarks.pytorch import studiogan  # pylint: disable=g-import-not-at-top
  generator, discriminator = studiogan.sngan(**constructor)
  batch, size = config.batch_size, config.model.resolution
  z = torch.randn(batch, config.model.z_dim)
  labels = torch.arange(batch) % config.model.num_classes
  real = torch.rand(batch, 3, size, size) * 2 - 1
  fake = torch.rand(batch, 3, size, size) * 2 - 1
  cotangent = torch.randn(batch, 3, size, size)
  g_opt = torch.optim.Adam(generator.parameters(), lr=config.optim.g_lr,
                           betas=(config.optim.b1, config.optim.b2))
  d_opt = torch.optim.Adam(discriminator.parameters(), lr=config.optim.d_lr,
                           betas=(config.optim.b1, config.optim.b2))
  ema = [p.detach().clone() for p in generator.parameters()]
  generator.train()
  discriminator.train()
  spectral_modules = [m for m in (*generator.modules(), *discriminator.modules())
                      if hasattr(m, "weight_orig")]

  def g_forward():
    with torch.no_grad():
      return generator(z, labels)

  def g_forward_backward():
    generator.zero_grad(set_to_none=True)
    (generator(z, labels) * cotangent).sum().backward()

  def d_forward():
    with torch.no_grad():
      return discriminator(real, labels), discriminator(fake, labels)

  def d_forward_backward():
    discriminator.zero_grad(set_to_none=True)
    loss = (torch.relu(1 - discriminator(real, labels)).mean()
            + torch.relu(1 + discriminator(fake, labels)).mean())
    loss.backward()

  def d_input_gradient():
    x = fake.clone().requires_grad_(True)
    for p in discriminator.parameters():
      p.requires_grad_(False)
    (-discriminator(x, labels).mean()).backward()
    for p in discriminator.parameters():
      p.requires_grad_(True)

  def spectral_norm():
    with torch.no_grad():
      for module in spectral_modules:  # what the forward pre-hook does in train mode
        hook = next(h for h in module._forward_pre_hooks.values()  # pylint: disable=protected-access
                    if h.__class__.__name__ == "SpectralNorm")
        hook.compute_weight(module, do_power_iteration=True)

  def adam_and_ema():
    for model in (generator, discriminator):
      for p in model.parameters():
        p.grad = torch.zeros_like(p)
    g_opt.step()
    d_opt.step()
    with torch.no_grad():
      torch._foreach_lerp_(ema, list(generator.parameters()), 1e-4)  # pylint: disable=protected-access

  whole, _, _ = compiled_step.torch_step(config, constructor)
  return {"G forward": (g_forward, ()), "G forward+backward": (g_forward_backward, ()),
          "D forward": (d_forward, ()), "D forward+backward": (d_forward_backward, ()),
          "D input gradient": (d_input_gradient, ()), "spectral norm": (spectral_norm, ()),
          "Adam and EMA": (adam_and_ema, ()), "whole step": (whole, ())}


def table(ours: Dict[str, float], theirs: Dict[str, float]) -> str:
  lines = ["| part | ours (ms) | StudioGAN PyTorch (ms) | PyTorch / ours |",
           "|---|---|---|---|"]
  for part in PARTS:
    lines.append(f"| {part} | {1000 * ours[part]:.1f} | {1000 * theirs[part]:.1f} | "
                 f"{theirs[part] / ours[part]:.2f}x |")
  sums = {name: sum(times[p] for p in PARTS if p not in ("whole step", "G forward",
                                                          "D forward"))
          for name, times in (("ours", ours), ("theirs", theirs))}
  lines.append(f"| sum of the parts a step runs (G fwd+bwd, D fwd+bwd, D input gradient, "
               f"SN, Adam and EMA, and a G forward) | "
               f"{1000 * (sums['ours'] + ours['G forward']):.1f} | "
               f"{1000 * (sums['theirs'] + theirs['G forward']):.1f} | |")
  return "\n".join(lines)


def main(argv: list[str]) -> None:
  del argv
  import torch  # pylint: disable=g-import-not-at-top
  torch.set_num_threads(os.cpu_count() or 1)
  name, config_name, overrides, batch, constructor = compiled_step.PYTORCH_SETTINGS[
      0 if _SETTING.value == "32" else 1]
  ours = compiled_step.OurStep(compiled_step.shipped_config(config_name, overrides, batch))
  calls = {("ours", part): call for part, call in our_parts(ours).items()}
  calls.update({("pytorch", part): call
                for part, call in torch_parts(ours.config, constructor).items()})
  medians = timing.interleaved_medians(calls, min_runs=5, budget_s=5.0)
  result = lambda side: {part: medians[side, part] for part in PARTS}
  device = jax.devices()[0].device_kind
  text = (f"{name}, batch {batch}, 1 D step; device {device}, {os.cpu_count()} CPU cores, "
          f"jax {jax.__version__}, torch {torch.__version__}, XLA_FLAGS="
          f"'{os.environ.get('XLA_FLAGS', '')}'; medians of the parts taking turns.\n\n" + table(result("ours"), result("pytorch")))
  slug = re.sub(r"[^a-z0-9]+", "_", device.lower()).strip("_")
  report.write(os.path.join(report.RESULTS_DIR, f"step_profile_{slug}_{_SETTING.value}.md"),
               "Where the training step's time goes",
               "python benchmarks/step_profile.py " + " ".join(sys.argv[1:]), text)


if __name__ == "__main__":
  app.run(main)
