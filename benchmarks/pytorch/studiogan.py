"""PyTorch-StudioGAN's SNGAN / SAGAN ResNets (`src/models/resnet.py`, `src/utils/ops.py`).

A transcription of StudioGAN at HEAD 947b35e (MIT licence) for the configurations its
SNGAN and SAGAN YAMLs use: class-conditional BN in G (`g_cond_mtd: cBN`), projection D
(`d_cond_mtd: PD`), ReLU, spectral norm in D always and in G for SAGAN (`apply_g_sn`),
self-attention after the blocks listed in `attn_g_loc` / `attn_d_loc`, orthogonal init
(`g_init = d_init = 'ortho'`), at 32x32 (CIFAR10), 64x64 (Baby/Papa/Grandpa ImageNet)
and 128x128 (ImageNet). Module and state-dict names are StudioGAN's, so `state_dict()`
has the keys and shapes of its checkpoints (`checkpoint` writes its `.pth` dicts). G
and D are complete trainable `nn.Module`s; D returns the adversarial logits (StudioGAN's
`adv_output`) rather than its dict of outputs. StudioGAN's in-place ReLUs are kept: in
its DiscBlock the first one overwrites the block's input, so the shortcut sees ReLU(x)
(our `model.d_activated_shortcut`). The reference for the converter's parity
tests (tests/convert) and for PyTorch step benchmarks; imports only torch.
"""

from typing import Optional, Sequence

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import spectral_norm

# Channel multipliers of g_conv_dim / d_conv_dim per block, and D's downsampling flags.
G_IN = {32: (4, 4, 4), 64: (16, 8, 4, 2), 128: (16, 16, 8, 4, 2)}
G_OUT = {32: (4, 4, 4), 64: (8, 4, 2, 1), 128: (16, 8, 4, 2, 1)}
D_OUT = {32: (2, 2, 2, 2), 64: (1, 2, 4, 8, 16), 128: (1, 2, 4, 8, 16, 16)}
D_DOWN = {32: (True, True, False, False), 64: (True, True, True, True, False),
          128: (True, True, True, True, True, False)}
# The YAMLs' attention locations (1-based block indices) for SAGAN.
SAGAN_ATTN_G = {32: (2,), 64: (3,), 128: (4,)}
SAGAN_ATTN_D = (1,)


def conv2d(sn: bool, cin: int, cout: int, kernel: int, bias: bool = True) -> nn.Module:
  conv = nn.Conv2d(cin, cout, kernel_size=kernel, stride=1, padding=kernel // 2, bias=bias)
  return spectral_norm(conv, eps=1e-6) if sn else conv


def linear(sn: bool, cin: int, cout: int, bias: bool = True) -> nn.Module:
  layer = nn.Linear(cin, cout, bias=bias)
  return spectral_norm(layer, eps=1e-6) if sn else layer


def init_weights(modules, initialize: str) -> None:
  """`ops.init_weights`: 'ortho' (every SNGAN / SAGAN YAML's), 'N02', 'glorot' or
  'xavier'; anything else keeps PyTorch's default init, as StudioGAN's does."""
  inits = {"ortho": nn.init.orthogonal_, "N02": lambda w: nn.init.normal_(w, 0, 0.02),
           "glorot": nn.init.xavier_uniform_, "xavier": nn.init.xavier_uniform_}
  if initialize not in inits:
    return
  for module in modules():
    if isinstance(module, (nn.Conv2d, nn.Linear, nn.Embedding)):
      inits[initialize](module.weight)  # under spectral_norm: writes weight_orig's storage
      if getattr(module, "bias", None) is not None:
        module.bias.data.fill_(0.)


class ConditionalBatchNorm2d(nn.Module):

  def __init__(self, in_features: int, out_features: int, sn: bool):
    super().__init__()
    self.bn = nn.BatchNorm2d(out_features, eps=1e-4, momentum=0.1, affine=False)
    self.gain = linear(sn, in_features, out_features, bias=False)
    self.bias = linear(sn, in_features, out_features, bias=False)

  def forward(self, x, y):
    gain = (1 + self.gain(y)).view(y.size(0), -1, 1, 1)
    bias = self.bias(y).view(y.size(0), -1, 1, 1)
    return self.bn(x) * gain + bias


class SelfAttention(nn.Module):

  def __init__(self, in_channels: int, sn: bool):
    super().__init__()
    self.conv1x1_theta = conv2d(sn, in_channels, in_channels // 8, 1, bias=False)
    self.conv1x1_phi = conv2d(sn, in_channels, in_channels // 8, 1, bias=False)
    self.conv1x1_g = conv2d(sn, in_channels, in_channels // 2, 1, bias=False)
    self.conv1x1_attn = conv2d(sn, in_channels // 2, in_channels, 1, bias=False)
    self.maxpool = nn.MaxPool2d(2, stride=2, padding=0)
    self.softmax = nn.Softmax(dim=-1)
    self.sigma = nn.Parameter(torch.zeros(1), requires_grad=True)

  def forward(self, x):
    _, ch, h, w = x.size()
    theta = self.conv1x1_theta(x).view(-1, ch // 8, h * w)
    phi = self.maxpool(self.conv1x1_phi(x)).view(-1, ch // 8, h * w // 4)
    attn = self.softmax(torch.bmm(theta.permute(0, 2, 1), phi))
    g = self.maxpool(self.conv1x1_g(x)).view(-1, ch // 2, h * w // 4)
    attn_g = torch.bmm(g, attn.permute(0, 2, 1)).view(-1, ch // 2, h, w)
    return x + self.sigma * self.conv1x1_attn(attn_g)


class GenBlock(nn.Module):

  def __init__(self, in_channels: int, out_channels: int, num_classes: int, sn: bool):
    super().__init__()
    self.bn1 = ConditionalBatchNorm2d(num_classes, in_channels, sn)
    self.bn2 = ConditionalBatchNorm2d(num_classes, out_channels, sn)
    self.activation = nn.ReLU(inplace=True)
    self.conv2d0 = conv2d(sn, in_channels, out_channels, 1)
    self.conv2d1 = conv2d(sn, in_channels, out_channels, 3)
    self.conv2d2 = conv2d(sn, out_channels, out_channels, 3)

  def forward(self, x, affine):
    x0 = x
    x = self.activation(self.bn1(x, affine))
    x = self.conv2d1(F.interpolate(x, scale_factor=2, mode="nearest"))
    x = self.conv2d2(self.activation(self.bn2(x, affine)))
    x0 = self.conv2d0(F.interpolate(x0, scale_factor=2, mode="nearest"))
    return x + x0


class Generator(nn.Module):
  """z (N, z_dim), label (N,) int64 -> images (N, 3, R, R) in [-1, 1]."""

  def __init__(self, img_size: int = 128, num_classes: int = 1000, z_dim: int = 128,
               g_conv_dim: int = 64, apply_g_sn: bool = False,
               attn_g_loc: Sequence[int] = (), g_init: str = "ortho"):
    super().__init__()
    self.num_classes = num_classes
    self.in_dims = [g_conv_dim * m for m in G_IN[img_size]]
    self.out_dims = [g_conv_dim * m for m in G_OUT[img_size]]
    self.bottom = 4
    self.linear0 = linear(apply_g_sn, z_dim, self.in_dims[0] * self.bottom * self.bottom)
    blocks = []
    for index, (cin, cout) in enumerate(zip(self.in_dims, self.out_dims)):
      blocks.append([GenBlock(cin, cout, num_classes, apply_g_sn)])
      if index + 1 in attn_g_loc:
        blocks.append([SelfAttention(cout, apply_g_sn)])
    self.blocks = nn.ModuleList([nn.ModuleList(block) for block in blocks])
    self.bn4 = nn.BatchNorm2d(self.out_dims[-1], eps=1e-4, momentum=0.1, affine=True)
    self.activation = nn.ReLU(inplace=True)
    self.conv2d5 = conv2d(apply_g_sn, self.out_dims[-1], 3, 3)
    self.tanh = nn.Tanh()
    init_weights(self.modules, g_init)

  def forward(self, z, label):
    affines = F.one_hot(label, num_classes=self.num_classes).to(torch.float32)
    act = self.linear0(z).view(-1, self.in_dims[0], self.bottom, self.bottom)
    for blocklist in self.blocks:
      for block in blocklist:
        act = block(act) if isinstance(block, SelfAttention) else block(act, affines)
    act = self.conv2d5(self.activation(self.bn4(act)))
    return self.tanh(act)


class DiscOptBlock(nn.Module):

  def __init__(self, in_channels: int, out_channels: int):
    super().__init__()
    self.conv2d0 = conv2d(True, in_channels, out_channels, 1)
    self.conv2d1 = conv2d(True, in_channels, out_channels, 3)
    self.conv2d2 = conv2d(True, out_channels, out_channels, 3)
    self.activation = nn.ReLU(inplace=True)
    self.average_pooling = nn.AvgPool2d(2)

  def forward(self, x):
    x0 = x
    x = self.average_pooling(self.conv2d2(self.activation(self.conv2d1(x))))
    return x + self.conv2d0(self.average_pooling(x0))


class DiscBlock(nn.Module):

  def __init__(self, in_channels: int, out_channels: int, downsample: bool = True):
    super().__init__()
    self.downsample = downsample
    self.activation = nn.ReLU(inplace=True)
    self.ch_mismatch = in_channels != out_channels
    if self.ch_mismatch or downsample:
      self.conv2d0 = conv2d(True, in_channels, out_channels, 1)
    self.conv2d1 = conv2d(True, in_channels, out_channels, 3)
    self.conv2d2 = conv2d(True, out_channels, out_channels, 3)
    self.average_pooling = nn.AvgPool2d(2)

  def forward(self, x):
    x0 = x
    # In place, as in StudioGAN: x0 is the same tensor, so the shortcut (conv2d0 or the
    # identity) reads ReLU(x), not x.
    x = self.conv2d1(self.activation(x))
    x = self.conv2d2(self.activation(x))
    if self.downsample:
      x = self.average_pooling(x)
    if self.downsample or self.ch_mismatch:
      x0 = self.conv2d0(x0)
      if self.downsample:
        x0 = self.average_pooling(x0)
    return x + x0


class Discriminator(nn.Module):
  """images (N, 3, R, R), label (N,) int64 -> adversarial logits (N,)."""

  def __init__(self, img_size: int = 128, num_classes: int = 1000, d_conv_dim: int = 64,
               attn_d_loc: Sequence[int] = (), d_init: str = "ortho"):
    super().__init__()
    self.out_dims = [d_conv_dim * m for m in D_OUT[img_size]]
    in_dims = [3] + self.out_dims[:-1]
    blocks = []
    for index, (cin, cout, down) in enumerate(zip(in_dims, self.out_dims, D_DOWN[img_size])):
      blocks.append([DiscOptBlock(cin, cout) if index == 0 else DiscBlock(cin, cout, down)])
      if index + 1 in attn_d_loc:
        blocks.append([SelfAttention(cout, True)])
    self.blocks = nn.ModuleList([nn.ModuleList(block) for block in blocks])
    self.activation = nn.ReLU(inplace=True)
    self.linear1 = linear(True, self.out_dims[-1], 1)
    self.embedding = spectral_norm(nn.Embedding(num_classes, self.out_dims[-1]), eps=1e-6)
    init_weights(self.modules, d_init)

  def forward(self, x, label):
    h = x
    for blocklist in self.blocks:
      for block in blocklist:
        h = block(h)
    h = torch.sum(self.activation(h), dim=[2, 3])
    adv_output = torch.squeeze(self.linear1(h))
    return adv_output + torch.sum(torch.mul(self.embedding(label), h), 1)


def sngan(img_size: int, num_classes: int, g_conv_dim: int = 64, d_conv_dim: int = 64,
          init: str = "ortho") -> tuple[Generator, Discriminator]:
  """StudioGAN's SNGAN G and D (SNGAN.yaml / SNGAN-256.yaml)."""
  return (Generator(img_size, num_classes, g_conv_dim=g_conv_dim, g_init=init),
          Discriminator(img_size, num_classes, d_conv_dim=d_conv_dim, d_init=init))


def sagan(img_size: int, num_classes: int, g_conv_dim: int = 64, d_conv_dim: int = 64,
          init: str = "ortho") -> tuple[Generator, Discriminator]:
  """StudioGAN's SAGAN G and D (SAGAN.yaml / SAGAN-256.yaml)."""
  return (Generator(img_size, num_classes, g_conv_dim=g_conv_dim, apply_g_sn=True,
                    attn_g_loc=SAGAN_ATTN_G[img_size], g_init=init),
          Discriminator(img_size, num_classes, d_conv_dim=d_conv_dim, attn_d_loc=SAGAN_ATTN_D,
                        d_init=init))


def checkpoint(model: nn.Module, optimizer: Optional[torch.optim.Optimizer] = None,
               step: Optional[int] = None) -> dict:
  """The dict StudioGAN's `worker.save` writes: {'state_dict', 'optimizer'} for G and
  G_ema, plus its bookkeeping (`step` among them) for D."""
  states = {"state_dict": model.state_dict()}
  if optimizer is not None:
    states["optimizer"] = optimizer.state_dict()
  if step is not None:
    states.update(seed=0, run_name="transcription", step=step, epoch=0, topk="initialize",
                  aa_p=0.0, best_step=step, best_fid=None, best_fid_ckpt="")
  return states
