"""StudioGAN's training step (`src/worker.py` `train_discriminator` / `train_generator`) in
eager PyTorch, for timing against ours on the same machine.

Per step: `d_steps` D updates, each on its own real batch: G draws a fake batch with its
parameters frozen and its BatchNorm statistics untracked (StudioGAN's
`untrack_bn_statistics`), D runs on the real and then on the fake batch, hinge loss, Adam;
then one G update: G draws a fake batch, D (frozen, in train mode) scores it, hinge loss,
Adam; then G's EMA over parameters and buffers, as this project's step always computes
it (StudioGAN's `ema.update`). Mixed precision, augmentations and regularisers are off, as
in the SNGAN / SAGAN YAMLs. The parts carry `torch.profiler.record_function` labels
named like our step's `jax.named_scope`s (d_update, g_update, adam, ema), for
benchmarks/step_profile.py.
"""

from typing import Callable

import torch
from torch import nn
from torch.profiler import record_function


def _set_requires_grad(model: nn.Module, flag: bool) -> None:
  for parameter in model.parameters():
    parameter.requires_grad_(flag)


def _track_bn_statistics(model: nn.Module, flag: bool) -> None:
  for module in model.modules():
    if isinstance(module, nn.modules.batchnorm._BatchNorm):  # pylint: disable=protected-access
      module.track_running_stats = flag


def make_step(generator: nn.Module, discriminator: nn.Module, *, batch_size: int, z_dim: int,
              num_classes: int, image_size: int, d_steps: int, g_lr: float, d_lr: float,
              betas: tuple[float, float], ema_decay: float = 0.9999,
              seed: int = 0) -> Callable[[], torch.Tensor]:
  """A function running one training step on fixed random real batches; returns G's loss."""
  torch.manual_seed(seed)
  g_opt = torch.optim.Adam(generator.parameters(), lr=g_lr, betas=betas)
  d_opt = torch.optim.Adam(discriminator.parameters(), lr=d_lr, betas=betas)
  ema = [t.detach().clone() for t in (*generator.parameters(), *generator.buffers())
         if t.is_floating_point()]
  reals = torch.rand(d_steps, batch_size, 3, image_size, image_size) * 2 - 1
  real_labels = torch.randint(0, num_classes, (d_steps, batch_size))
  generator.train()
  discriminator.train()

  def latents():
    return (torch.randn(batch_size, z_dim), torch.randint(0, num_classes, (batch_size,)))

  def step() -> torch.Tensor:
    _set_requires_grad(generator, False)
    _set_requires_grad(discriminator, True)
    _track_bn_statistics(generator, False)
    for real, labels in zip(reals, real_labels):
      with record_function("d_update"):
        d_opt.zero_grad(set_to_none=True)
        z, fake_labels = latents()
        with record_function("Generator"):
          fake = generator(z, fake_labels)
        with record_function("Discriminator"):
          d_loss = (torch.relu(1 - discriminator(real, labels)).mean()
                    + torch.relu(1 + discriminator(fake, fake_labels)).mean())
        with record_function("backward"):
          d_loss.backward()
        with record_function("adam"):
          d_opt.step()
    _set_requires_grad(discriminator, False)
    _set_requires_grad(generator, True)
    _track_bn_statistics(generator, True)
    with record_function("g_update"):
      g_opt.zero_grad(set_to_none=True)
      z, labels = latents()
      with record_function("Generator"):
        fake = generator(z, labels)
      with record_function("Discriminator"):
        g_loss = -discriminator(fake, labels).mean()
      with record_function("backward"):
        g_loss.backward()
      with record_function("adam"):
        g_opt.step()
    with torch.no_grad(), record_function("ema"):
      current = [t for t in (*generator.parameters(), *generator.buffers())
                 if t.is_floating_point()]
      torch._foreach_lerp_(ema, current, 1 - ema_decay)  # pylint: disable=protected-access
    return g_loss.detach()

  return step
