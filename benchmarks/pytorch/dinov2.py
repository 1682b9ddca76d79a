"""DINOv2's ViT (`dinov2_vitl14`) and dgm-eval's input path for it, in torch.

Transcribed, not imported, from facebookresearch/dinov2 at commit
b8931f7bf91576930313be2c6d6af376033b35f0 (dinov2/models/vision_transformer.py:
`DinoVisionTransformer.interpolate_pos_encoding`, `prepare_tokens_with_masks`,
`forward_features`, `forward`; dinov2/layers/patch_embed.py, attention.py (the
`scaled_dot_product_attention` path taken without xFormers), mlp.py, layer_scale.py,
block.py; dinov2/hub/backbones.py for the ViT-L/14 settings) and layer6ai-labs/dgm-eval at
commit 74c79f7527fbf38fdccfbac51f25d759bc02ab07 (dgm_eval/models/dinov2.py
`DINOv2Encoder.transform`; dgm_eval/metrics/fd.py `compute_FD_with_reps`). Only the inference path: no drop path, masks, registers,
nested tensors or chunked blocks. It does not import the project code, so its
`state_dict()` has the keys and shapes of `dinov2_vitl14_pretrain.pth` and its forward is
the reference our converted weights must reproduce. Imports only torch, numpy, scipy and PIL.
"""

import math

import numpy as np
import scipy.linalg
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class PatchEmbed(nn.Module):

  def __init__(self, patch_size, embed_dim):
    super().__init__()
    self.patch_size = patch_size
    self.proj = nn.Conv2d(3, embed_dim, kernel_size=patch_size, stride=patch_size)

  def forward(self, x):
    assert x.shape[2] % self.patch_size == 0 and x.shape[3] % self.patch_size == 0
    return self.proj(x).flatten(2).transpose(1, 2)  # B C H W -> B HW C


class Attention(nn.Module):

  def __init__(self, dim, num_heads):
    super().__init__()
    self.num_heads = num_heads
    self.qkv = nn.Linear(dim, dim * 3, bias=True)
    self.proj = nn.Linear(dim, dim, bias=True)

  def forward(self, x):
    b, n, c = x.shape
    qkv = self.qkv(x).reshape(b, n, 3, self.num_heads, c // self.num_heads)
    q, k, v = [t.transpose(1, 2) for t in torch.unbind(qkv, 2)]
    x = F.scaled_dot_product_attention(q, k, v)
    return self.proj(x.transpose(1, 2).reshape(b, n, c))


class Mlp(nn.Module):

  def __init__(self, dim, hidden):
    super().__init__()
    self.fc1 = nn.Linear(dim, hidden)
    self.act = nn.GELU()
    self.fc2 = nn.Linear(hidden, dim)

  def forward(self, x):
    return self.fc2(self.act(self.fc1(x)))


class LayerScale(nn.Module):

  def __init__(self, dim, init_values=1.0):
    super().__init__()
    self.gamma = nn.Parameter(init_values * torch.ones(dim))

  def forward(self, x):
    return x * self.gamma


class Block(nn.Module):

  def __init__(self, dim, num_heads, mlp_ratio):
    super().__init__()
    self.norm1 = nn.LayerNorm(dim, eps=1e-6)
    self.attn = Attention(dim, num_heads)
    self.ls1 = LayerScale(dim)
    self.norm2 = nn.LayerNorm(dim, eps=1e-6)
    self.mlp = Mlp(dim, int(dim * mlp_ratio))
    self.ls2 = LayerScale(dim)

  def forward(self, x):
    x = x + self.ls1(self.attn(self.norm1(x)))
    return x + self.ls2(self.mlp(self.norm2(x)))


class DinoVisionTransformer(nn.Module):
  """`dinov2_vitl14` with the defaults: img_size 518, patch 14, LayerScale init 1.0,
  block_chunks 0, no registers, interpolate_antialias False, interpolate_offset 0.1."""

  def __init__(self, img_size=518, patch_size=14, embed_dim=1024, depth=24, num_heads=16,
               mlp_ratio=4, interpolate_offset=0.1):
    super().__init__()
    self.patch_size = patch_size
    self.interpolate_offset = interpolate_offset
    self.patch_embed = PatchEmbed(patch_size, embed_dim)
    num_patches = (img_size // patch_size) ** 2
    self.cls_token = nn.Parameter(torch.zeros(1, 1, embed_dim))
    self.pos_embed = nn.Parameter(torch.zeros(1, num_patches + 1, embed_dim))
    self.blocks = nn.ModuleList([Block(embed_dim, num_heads, mlp_ratio) for _ in range(depth)])
    self.norm = nn.LayerNorm(embed_dim, eps=1e-6)
    self.mask_token = nn.Parameter(torch.zeros(1, embed_dim))  # Training only; in the file.

  def interpolate_pos_encoding(self, x, w, h):
    npatch, n = x.shape[1] - 1, self.pos_embed.shape[1] - 1
    if npatch == n and w == h:
      return self.pos_embed
    pos_embed = self.pos_embed.float()
    class_pos_embed, patch_pos_embed = pos_embed[:, 0], pos_embed[:, 1:]
    dim = x.shape[-1]
    w0, h0 = w // self.patch_size, h // self.patch_size
    m = int(math.sqrt(n))
    assert n == m * m
    sx = float(w0 + self.interpolate_offset) / m
    sy = float(h0 + self.interpolate_offset) / m
    patch_pos_embed = F.interpolate(patch_pos_embed.reshape(1, m, m, dim).permute(0, 3, 1, 2),
                                    mode="bicubic", antialias=False, scale_factor=(sx, sy))
    assert (w0, h0) == patch_pos_embed.shape[-2:]
    patch_pos_embed = patch_pos_embed.permute(0, 2, 3, 1).view(1, -1, dim)
    return torch.cat((class_pos_embed.unsqueeze(0), patch_pos_embed), dim=1).to(x.dtype)

  def forward(self, x):
    _, _, w, h = x.shape
    x = self.patch_embed(x)
    x = torch.cat((self.cls_token.expand(x.shape[0], -1, -1), x), dim=1)
    x = x + self.interpolate_pos_encoding(x, w, h)
    for block in self.blocks:
      x = block(x)
    return self.norm(x)[:, 0]  # x_norm_clstoken; the head is nn.Identity.


def random_model(seed: int = 0, **sizes) -> DinoVisionTransformer:
  """A network of the given sizes (default ViT-L/14) with every parameter random.

  Linear and conv weights have std fan_in^-0.5, so attention logits are of order 1 (neither
  uniform nor one-hot); norms, biases, LayerScale and the embeddings are random too, so a
  mis-mapped parameter of any kind changes the output.
  """
  torch.manual_seed(seed)
  model = DinoVisionTransformer(**sizes)
  with torch.no_grad():
    for name, p in model.named_parameters():
      if name.endswith("weight") and p.ndim > 1:
        p.normal_(0, p[0].numel() ** -0.5)
      elif name.endswith(("norm1.weight", "norm2.weight", "norm.weight")):
        p.normal_(1, 0.2)
      elif name.endswith("gamma"):
        p.uniform_(0.3, 1.5)
      else:  # biases, cls_token, pos_embed, mask_token
        p.normal_(0, 0.3)
  return model.eval()


def dgm_eval_input(image_uint8: np.ndarray, size: int = 224) -> torch.Tensor:
  """One uint8 (H, W, 3) image -> (3, size, size): dgm-eval's `DINOv2Encoder.transform`.

  torchvision's `Resize((size, size), BICUBIC)` on a PIL image is `img.resize((size, size),
  BICUBIC)` (torchvision/transforms/_functional_pil.py); `ToTensor` is /255 in float32;
  `Normalize` subtracts the mean and divides by the std, both cast to float32.
  """
  image = Image.fromarray(image_uint8).convert("RGB").resize((size, size), Image.BICUBIC)
  x = torch.from_numpy(np.array(image, np.uint8)).permute(2, 0, 1).float().div(255)
  mean = torch.as_tensor(IMAGENET_MEAN, dtype=torch.float32)[:, None, None]
  std = torch.as_tensor(IMAGENET_STD, dtype=torch.float32)[:, None, None]
  return (x - mean) / std


def dgm_eval_features(model: DinoVisionTransformer, images_uint8: np.ndarray,
                      size: int = 224) -> np.ndarray:
  """dgm-eval's DINOv2 features of a uint8 NHWC batch: its transform per image, then
  `model(batch)` under no_grad."""
  batch = torch.stack([dgm_eval_input(image, size) for image in images_uint8])
  with torch.no_grad():
    return model(batch).numpy()


def dgm_eval_fd(reps1: np.ndarray, reps2: np.ndarray) -> float:
  """dgm-eval's `compute_FD_with_reps` of two feature sets, written out in float64."""
  mu1, mu2 = reps1.mean(0), reps2.mean(0)
  s1, s2 = np.cov(reps1, rowvar=False), np.cov(reps2, rowvar=False)
  covmean = scipy.linalg.sqrtm(s1 @ s2).real
  return float((mu1 - mu2) @ (mu1 - mu2) + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))
