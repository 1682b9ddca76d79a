"""BigGAN in PyTorch: StudioGAN's `big_resnet.py` and ajbrock/BigGAN-PyTorch's `BigGAN.py`.

Transcriptions, for the configurations their ImageNet 128x128 runs use, of

- PyTorch-StudioGAN at HEAD 947b35e (MIT licence), `src/models/big_resnet.py`: the
  Generator with `g_cond_mtd: cBN`, `apply_g_sn`, no InfoGAN inputs (`info_type: N/A`),
  self-attention after the blocks in `attn_g_loc`, orthogonal init (`studiogan_generator`).
  Its Discriminator has the blocks, names and head of `src/models/resnet.py`'s, so it is
  `benchmarks/pytorch/studiogan.Discriminator` (`studiogan_discriminator`). Module and
  state-dict names are StudioGAN's; the layers (`ConditionalBatchNorm2d`, `SelfAttention`,
  `GenBlock`, `conv2d`, `linear`, `init_weights`) are those of benchmarks/pytorch/studiogan.py.
- ajbrock/BigGAN-PyTorch at HEAD 9845943 (MIT licence), `BigGAN.py` and `layers.py`: the
  Generator as `scripts/launch_BigGAN_bs256x8.sh` builds it (`--G_shared --hier --dim_z 120
  --shared_dim 128 --G_ch 96 --G_attn 64 --G_nl inplace_relu --SN_eps 1e-6 --BN_eps 1e-5
  --G_init ortho`), with its own spectral norm (buffers `u0`, `sv0`), `ccbn` and `bn`
  (buffers `stored_mean`, `stored_var`), and `Attention`; no optimiser. Its forward takes
  the shared embedding of the labels, as BigGAN-PyTorch's does: `G(z, G.shared(labels))`.
  Also `ortho` of its `utils.py`, the `--G_ortho` gradient.

The references of tests/models/test_biggan.py and tests/convert/test_biggan.py; import only
torch.
"""

import functools
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from benchmarks.pytorch.studiogan import (
    G_IN, G_OUT, Discriminator, GenBlock, SelfAttention, init_weights, linear, conv2d)


# ----------------------------------------------------------------------------
# StudioGAN, src/models/big_resnet.py.

class StudioGANGenerator(nn.Module):
  """z (N, z_dim), label (N,) int64 -> images (N, 3, R, R) in [-1, 1]."""

  def __init__(self, img_size: int = 128, num_classes: int = 1000, z_dim: int = 120,
               g_shared_dim: int = 128, g_conv_dim: int = 96,
               attn_g_loc: Sequence[int] = (4,), g_init: str = "ortho"):
    super().__init__()
    self.in_dims = [g_conv_dim * m for m in G_IN[img_size]]
    self.out_dims = [g_conv_dim * m for m in G_OUT[img_size]]
    self.bottom = 4
    self.num_blocks = len(self.in_dims)
    self.chunk_size = z_dim // (self.num_blocks + 1)
    assert z_dim % (self.num_blocks + 1) == 0, "z_dim should be divided by the number of blocks"
    self.affine_input_dim = self.chunk_size + g_shared_dim
    self.linear0 = linear(True, self.chunk_size, self.in_dims[0] * self.bottom * self.bottom)
    self.shared = nn.Embedding(num_classes, g_shared_dim)
    blocks = []
    for index in range(self.num_blocks):
      blocks.append([GenBlock(self.in_dims[index], self.out_dims[index],
                              self.affine_input_dim, True)])
      if index + 1 in attn_g_loc:
        blocks.append([SelfAttention(self.out_dims[index], True)])
    self.blocks = nn.ModuleList([nn.ModuleList(block) for block in blocks])
    self.bn4 = nn.BatchNorm2d(self.out_dims[-1], eps=1e-4, momentum=0.1, affine=True)
    self.activation = nn.ReLU(inplace=True)
    self.conv2d5 = conv2d(True, self.out_dims[-1], 3, 3)
    self.tanh = nn.Tanh()
    init_weights(self.modules, g_init)

  def forward(self, z, label):
    zs = torch.split(z, self.chunk_size, 1)
    z = zs[0]
    shared_label = self.shared(label)
    affines = [torch.cat([shared_label, item], 1) for item in zs[1:]]
    act = self.linear0(z).view(-1, self.in_dims[0], self.bottom, self.bottom)
    counter = 0
    for blocklist in self.blocks:
      for block in blocklist:
        if isinstance(block, SelfAttention):
          act = block(act)
        else:
          act = block(act, affines[counter])
          counter += 1
    act = self.conv2d5(self.activation(self.bn4(act)))
    return self.tanh(act)


def studiogan_generator(img_size: int = 128, num_classes: int = 1000, g_conv_dim: int = 96,
                        init: str = "ortho") -> StudioGANGenerator:
  """StudioGAN's BigGAN G (ImageNet/BigGAN-256.yaml: z_dim 120, g_shared_dim 128, attention
  after block 4 at 128x128, i.e. at 64x64; the 32 and 64 tables at the same depth)."""
  attn = {32: (2,), 64: (3,), 128: (4,)}[img_size]
  z_dim = 20 * (len(G_IN[img_size]) + 1)
  return StudioGANGenerator(img_size, num_classes, z_dim, 128, g_conv_dim, attn, init)


def studiogan_discriminator(img_size: int = 128, num_classes: int = 1000, d_conv_dim: int = 96,
                            init: str = "ortho") -> Discriminator:
  """StudioGAN's BigGAN D (attn_d_loc [1]: after the first block)."""
  return Discriminator(img_size, num_classes, d_conv_dim, attn_d_loc=(1,), d_init=init)


# ----------------------------------------------------------------------------
# BigGAN-PyTorch, layers.py.

def proj(x, y):
  return torch.mm(y, x.t()) * y / torch.mm(y, y.t())


def gram_schmidt(x, ys):
  for y in ys:
    x = x - proj(x, y)
  return x


def power_iteration(W, u_, update=True, eps=1e-12):
  us, vs, svs = [], [], []
  for i, u in enumerate(u_):
    with torch.no_grad():
      v = torch.matmul(u, W)
      v = F.normalize(gram_schmidt(v, vs), eps=eps)
      vs += [v]
      u = torch.matmul(v, W.t())
      u = F.normalize(gram_schmidt(u, us), eps=eps)
      us += [u]
      if update:
        u_[i][:] = u
    svs += [torch.squeeze(torch.matmul(torch.matmul(v, W.t()), u.t()))]
  return svs, us, vs


class SN(object):

  def __init__(self, num_svs, num_itrs, num_outputs, transpose=False, eps=1e-12):
    self.num_itrs = num_itrs
    self.num_svs = num_svs
    self.transpose = transpose
    self.eps = eps
    for i in range(self.num_svs):
      self.register_buffer("u%d" % i, torch.randn(1, num_outputs))
      self.register_buffer("sv%d" % i, torch.ones(1))

  @property
  def u(self):
    return [getattr(self, "u%d" % i) for i in range(self.num_svs)]

  @property
  def sv(self):
    return [getattr(self, "sv%d" % i) for i in range(self.num_svs)]

  def W_(self):
    W_mat = self.weight.view(self.weight.size(0), -1)
    if self.transpose:
      W_mat = W_mat.t()
    for _ in range(self.num_itrs):
      svs, us, vs = power_iteration(W_mat, self.u, update=self.training, eps=self.eps)
    if self.training:
      with torch.no_grad():
        for i, sv in enumerate(svs):
          self.sv[i][:] = sv
    return self.weight / svs[0]


class SNConv2d(nn.Conv2d, SN):

  def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1,
               groups=1, bias=True, num_svs=1, num_itrs=1, eps=1e-12):
    nn.Conv2d.__init__(self, in_channels, out_channels, kernel_size, stride, padding, dilation,
                       groups, bias)
    SN.__init__(self, num_svs, num_itrs, out_channels, eps=eps)

  def forward(self, x):
    return F.conv2d(x, self.W_(), self.bias, self.stride, self.padding, self.dilation,
                    self.groups)


class SNLinear(nn.Linear, SN):

  def __init__(self, in_features, out_features, bias=True, num_svs=1, num_itrs=1, eps=1e-12):
    nn.Linear.__init__(self, in_features, out_features, bias)
    SN.__init__(self, num_svs, num_itrs, out_features, eps=eps)

  def forward(self, x):
    return F.linear(x, self.W_(), self.bias)


class Attention(nn.Module):

  def __init__(self, ch, which_conv=SNConv2d, name="attention"):
    super().__init__()
    self.ch = ch
    self.which_conv = which_conv
    self.theta = self.which_conv(self.ch, self.ch // 8, kernel_size=1, padding=0, bias=False)
    self.phi = self.which_conv(self.ch, self.ch // 8, kernel_size=1, padding=0, bias=False)
    self.g = self.which_conv(self.ch, self.ch // 2, kernel_size=1, padding=0, bias=False)
    self.o = self.which_conv(self.ch // 2, self.ch, kernel_size=1, padding=0, bias=False)
    self.gamma = nn.Parameter(torch.tensor(0.), requires_grad=True)

  def forward(self, x, y=None):
    theta = self.theta(x)
    phi = F.max_pool2d(self.phi(x), [2, 2])
    g = F.max_pool2d(self.g(x), [2, 2])
    theta = theta.view(-1, self.ch // 8, x.shape[2] * x.shape[3])
    phi = phi.view(-1, self.ch // 8, x.shape[2] * x.shape[3] // 4)
    g = g.view(-1, self.ch // 2, x.shape[2] * x.shape[3] // 4)
    beta = F.softmax(torch.bmm(theta.transpose(1, 2), phi), -1)
    o = self.o(torch.bmm(g, beta.transpose(1, 2)).view(-1, self.ch // 2, x.shape[2], x.shape[3]))
    return self.gamma * o + x


class ccbn(nn.Module):  # pylint: disable=invalid-name
  """`norm_style='bn'`, neither `cross_replica` nor `mybn` (the launch scripts' setting)."""

  def __init__(self, output_size, input_size, which_linear, eps=1e-5, momentum=0.1):
    super().__init__()
    self.output_size, self.input_size = output_size, input_size
    self.gain = which_linear(input_size, output_size)
    self.bias = which_linear(input_size, output_size)
    self.eps = eps
    self.momentum = momentum
    self.register_buffer("stored_mean", torch.zeros(output_size))
    self.register_buffer("stored_var", torch.ones(output_size))

  def forward(self, x, y):
    gain = (1 + self.gain(y)).view(y.size(0), -1, 1, 1)
    bias = self.bias(y).view(y.size(0), -1, 1, 1)
    out = F.batch_norm(x, self.stored_mean, self.stored_var, None, None, self.training, 0.1,
                       self.eps)
    return out * gain + bias


class bn(nn.Module):  # pylint: disable=invalid-name

  def __init__(self, output_size, eps=1e-5, momentum=0.1):
    super().__init__()
    self.output_size = output_size
    self.gain = nn.Parameter(torch.ones(output_size), requires_grad=True)
    self.bias = nn.Parameter(torch.zeros(output_size), requires_grad=True)
    self.eps = eps
    self.momentum = momentum
    self.register_buffer("stored_mean", torch.zeros(output_size))
    self.register_buffer("stored_var", torch.ones(output_size))

  def forward(self, x, y=None):
    return F.batch_norm(x, self.stored_mean, self.stored_var, self.gain, self.bias,
                        self.training, self.momentum, self.eps)


class GBlock(nn.Module):

  def __init__(self, in_channels, out_channels, which_conv=nn.Conv2d, which_bn=bn,
               activation=None, upsample=None):
    super().__init__()
    self.in_channels, self.out_channels = in_channels, out_channels
    self.which_conv, self.which_bn = which_conv, which_bn
    self.activation = activation
    self.upsample = upsample
    self.conv1 = self.which_conv(self.in_channels, self.out_channels)
    self.conv2 = self.which_conv(self.out_channels, self.out_channels)
    self.learnable_sc = in_channels != out_channels or upsample
    if self.learnable_sc:
      self.conv_sc = self.which_conv(in_channels, out_channels, kernel_size=1, padding=0)
    self.bn1 = self.which_bn(in_channels)
    self.bn2 = self.which_bn(out_channels)
    self.upsample = upsample

  def forward(self, x, y):
    h = self.activation(self.bn1(x, y))
    if self.upsample:
      h = self.upsample(h)
      x = self.upsample(x)
    h = self.conv1(h)
    h = self.activation(self.bn2(h, y))
    h = self.conv2(h)
    if self.learnable_sc:
      x = self.conv_sc(x)
    return h + x


# ----------------------------------------------------------------------------
# BigGAN-PyTorch, BigGAN.py.

def G_arch(ch=64, attention="64"):  # pylint: disable=invalid-name
  """The 32, 64 and 128 entries of BigGAN-PyTorch's table."""
  attend = lambda top: {2 ** i: (2 ** i in [int(item) for item in attention.split("_")])
                        for i in range(3, top)}
  return {
      128: {"in_channels": [ch * item for item in [16, 16, 8, 4, 2]],
            "out_channels": [ch * item for item in [16, 8, 4, 2, 1]],
            "upsample": [True] * 5, "resolution": [8, 16, 32, 64, 128],
            "attention": attend(8)},
      64: {"in_channels": [ch * item for item in [16, 16, 8, 4]],
           "out_channels": [ch * item for item in [16, 8, 4, 2]],
           "upsample": [True] * 4, "resolution": [8, 16, 32, 64], "attention": attend(7)},
      32: {"in_channels": [ch * item for item in [4, 4, 4]],
           "out_channels": [ch * item for item in [4, 4, 4]],
           "upsample": [True] * 3, "resolution": [8, 16, 32], "attention": attend(6)},
  }


class BigGANPyTorchGenerator(nn.Module):
  """`Generator(G_shared=True, G_param='SN', norm_style='bn')`, with or without `hier`."""

  def __init__(self, G_ch=96, dim_z=120, bottom_width=4, resolution=128, G_attn="64",
               n_classes=1000, num_G_SVs=1, num_G_SV_itrs=1, hier=True, shared_dim=128,
               G_activation=nn.ReLU(inplace=True), BN_eps=1e-5, SN_eps=1e-6, G_init="ortho",
               skip_init=False):
    super().__init__()
    self.ch = G_ch
    self.dim_z = dim_z
    self.bottom_width = bottom_width
    self.resolution = resolution
    self.n_classes = n_classes
    self.shared_dim = shared_dim if shared_dim > 0 else dim_z
    self.activation = G_activation
    self.init = G_init
    self.BN_eps = BN_eps
    self.SN_eps = SN_eps
    self.hier = hier
    self.arch = G_arch(self.ch, G_attn)[resolution]
    if self.hier:
      self.num_slots = len(self.arch["in_channels"]) + 1
      self.z_chunk_size = self.dim_z // self.num_slots
      self.dim_z = self.z_chunk_size * self.num_slots
    else:
      self.num_slots = 1
      self.z_chunk_size = 0
    self.which_conv = functools.partial(SNConv2d, kernel_size=3, padding=1, num_svs=num_G_SVs,
                                        num_itrs=num_G_SV_itrs, eps=self.SN_eps)
    self.which_linear = functools.partial(SNLinear, num_svs=num_G_SVs, num_itrs=num_G_SV_itrs,
                                          eps=self.SN_eps)
    self.which_embedding = nn.Embedding
    bn_linear = functools.partial(self.which_linear, bias=False)
    self.which_bn = functools.partial(ccbn, which_linear=bn_linear,
                                      input_size=self.shared_dim + self.z_chunk_size,
                                      eps=self.BN_eps)
    self.shared = self.which_embedding(n_classes, self.shared_dim)
    self.linear = self.which_linear(self.dim_z // self.num_slots,
                                    self.arch["in_channels"][0] * (self.bottom_width ** 2))
    self.blocks = []
    for index in range(len(self.arch["out_channels"])):
      self.blocks += [[GBlock(in_channels=self.arch["in_channels"][index],
                              out_channels=self.arch["out_channels"][index],
                              which_conv=self.which_conv, which_bn=self.which_bn,
                              activation=self.activation,
                              upsample=(functools.partial(F.interpolate, scale_factor=2)
                                        if self.arch["upsample"][index] else None))]]
      if self.arch["attention"][self.arch["resolution"][index]]:
        self.blocks[-1] += [Attention(self.arch["out_channels"][index], self.which_conv)]
    self.blocks = nn.ModuleList([nn.ModuleList(block) for block in self.blocks])
    self.output_layer = nn.Sequential(bn(self.arch["out_channels"][-1]), self.activation,
                                      self.which_conv(self.arch["out_channels"][-1], 3))
    if not skip_init:
      self.init_weights()

  def init_weights(self):
    """'ortho', 'N02', 'glorot' or 'xavier'; anything else keeps PyTorch's default init
    (BigGAN-PyTorch prints 'Init style not recognized...' and does the same)."""
    for module in self.modules():
      if isinstance(module, (nn.Conv2d, nn.Linear, nn.Embedding)):
        if self.init == "ortho":
          nn.init.orthogonal_(module.weight)
        elif self.init == "N02":
          nn.init.normal_(module.weight, 0, 0.02)
        elif self.init in ["glorot", "xavier"]:
          nn.init.xavier_uniform_(module.weight)

  def forward(self, z, y):
    if self.hier:
      zs = torch.split(z, self.z_chunk_size, 1)
      z = zs[0]
      ys = [torch.cat([y, item], 1) for item in zs[1:]]
    else:
      ys = [y] * len(self.blocks)
    h = self.linear(z)
    h = h.view(h.size(0), -1, self.bottom_width, self.bottom_width)
    for index, blocklist in enumerate(self.blocks):
      for block in blocklist:
        h = block(h, ys[index])
    return torch.tanh(self.output_layer(h))


def biggan_pytorch_generator(resolution: int = 128, n_classes: int = 1000, G_ch: int = 96,
                             init: str = "ortho", hier: bool = True) -> BigGANPyTorchGenerator:
  """The G of `launch_BigGAN_bs256x8.sh` (its 32 and 64 tables at the same depth); with
  `hier=False`, that G without `--hier` (z_dim 120 all into the first linear)."""
  dim_z = 20 * (len(G_arch()[resolution]["in_channels"]) + 1)
  return BigGANPyTorchGenerator(G_ch=G_ch, dim_z=dim_z, resolution=resolution,
                                n_classes=n_classes, G_init=init, hier=hier)


# ----------------------------------------------------------------------------
# BigGAN-PyTorch, utils.py.

def ortho(model, strength=1e-4, blacklist=()):
  with torch.no_grad():
    for param in model.parameters():
      if len(param.shape) < 2 or any([param is item for item in blacklist]):
        continue
      w = param.view(param.shape[0], -1)
      grad = (2 * torch.mm(torch.mm(w, w.t())
              * (1. - torch.eye(w.shape[0], device=w.device)), w))
      param.grad.data += strength * grad.view(param.shape)
