"""PyTorch-StudioGAN's DiffAugment (`src/utils/diffaug.py`), its random numbers passed in.

A transcription of StudioGAN at HEAD 947b35e (that file is MIT-Han-Lab's DiffAugment,
BSD-2-Clause, Zhao, Liu, Lin, Zhu and Han) on NCHW tensors, as `apply_diffaug` is called
(`channels_first=True`). The only change: each `torch.rand` / `torch.randint` is replaced by
the tensor of the same shape in `draws` (the keys of `an_flax.training.diffaug.sample_draws`,
its (N, 2) integer draws split into the row and column tensors), so the test can give
PyTorch's code and ours the same numbers; `torch.meshgrid` is given its default
`indexing="ij"` explicitly (torch warns without it). The reference of
tests/training/test_diffaug.py; imports only torch.
"""

from typing import Dict

import torch
import torch.nn.functional as F


def apply_diffaug(x, draws: Dict[str, torch.Tensor], policy="color,translation,cutout"):
  for p in policy.split(","):
    for f in AUGMENT_FNS[p]:
      x = f(x, draws)
  return x.contiguous()


def rand_brightness(x, draws):
  x = x + (draws["brightness"].view(x.size(0), 1, 1, 1) - 0.5)
  return x


def rand_saturation(x, draws):
  x_mean = x.mean(dim=1, keepdim=True)
  x = (x - x_mean) * (draws["saturation"].view(x.size(0), 1, 1, 1) * 2) + x_mean
  return x


def rand_contrast(x, draws):
  x_mean = x.mean(dim=[1, 2, 3], keepdim=True)
  x = (x - x_mean) * (draws["contrast"].view(x.size(0), 1, 1, 1) + 0.5) + x_mean
  return x


def rand_translation(x, draws, ratio=0.125):
  shift_x, shift_y = int(x.size(2) * ratio + 0.5), int(x.size(3) * ratio + 0.5)
  translation_x = draws["translation"][:, 0].view(x.size(0), 1, 1)  # in [-shift_x, shift_x]
  translation_y = draws["translation"][:, 1].view(x.size(0), 1, 1)  # in [-shift_y, shift_y]
  grid_batch, grid_x, grid_y = torch.meshgrid(
      torch.arange(x.size(0), dtype=torch.long, device=x.device),
      torch.arange(x.size(2), dtype=torch.long, device=x.device),
      torch.arange(x.size(3), dtype=torch.long, device=x.device),
      indexing="ij",
  )
  grid_x = torch.clamp(grid_x + translation_x + 1, 0, x.size(2) + 1)
  grid_y = torch.clamp(grid_y + translation_y + 1, 0, x.size(3) + 1)
  x_pad = F.pad(x, [1, 1, 1, 1, 0, 0, 0, 0])
  x = x_pad.permute(0, 2, 3, 1).contiguous()[grid_batch, grid_x, grid_y].permute(0, 3, 1, 2)
  return x


def rand_cutout(x, draws, ratio=0.5):
  cutout_size = int(x.size(2) * ratio + 0.5), int(x.size(3) * ratio + 0.5)
  # in [0, x.size(2) + (1 - cutout_size[0] % 2)) and [0, x.size(3) + (1 - cutout_size[1] % 2))
  offset_x = draws["cutout"][:, 0].view(x.size(0), 1, 1)
  offset_y = draws["cutout"][:, 1].view(x.size(0), 1, 1)
  grid_batch, grid_x, grid_y = torch.meshgrid(
      torch.arange(x.size(0), dtype=torch.long, device=x.device),
      torch.arange(cutout_size[0], dtype=torch.long, device=x.device),
      torch.arange(cutout_size[1], dtype=torch.long, device=x.device),
      indexing="ij",
  )
  grid_x = torch.clamp(grid_x + offset_x - cutout_size[0] // 2, min=0, max=x.size(2) - 1)
  grid_y = torch.clamp(grid_y + offset_y - cutout_size[1] // 2, min=0, max=x.size(3) - 1)
  mask = torch.ones(x.size(0), x.size(2), x.size(3), dtype=x.dtype, device=x.device)
  mask[grid_batch, grid_x, grid_y] = 0
  x = x * mask.unsqueeze(1)
  return x


AUGMENT_FNS = {
    "color": [rand_brightness, rand_saturation, rand_contrast],
    "translation": [rand_translation],
    "cutout": [rand_cutout],
}
