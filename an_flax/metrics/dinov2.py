"""DINOv2's ViT-L/14 in Flax and dgm-eval's use of it: the features of FD_DINOv2.

The network is facebookresearch/dinov2's `dinov2_vitl14` (dinov2/models/vision_transformer.py,
dinov2/layers/, dinov2/hub/backbones.py at commit b8931f7): a 14x14 stride-14 patch
convolution, a class token, learned position embeddings for a 37x37 patch grid (img_size
518) resized bicubically to the input's grid as `interpolate_pos_encoding` does it, 24
pre-norm blocks `x + ls1(attn(norm1(x)))`, `x + ls2(mlp(norm2(x)))` (LayerScale, biases
everywhere, exact GELU, LayerNorm eps 1e-6), no register tokens, and a final LayerNorm.
`forward` returns the class token after that norm (`x_norm_clstoken`; the head is the
identity), and that is what dgm-eval's `DINOv2Encoder` returns as the feature (N, 1024).
Submodule names equal the PyTorch ones (`blocks_3/attn/qkv/kernel` <->
`blocks.3.attn.qkv.weight`), so weight conversion is a renaming.

dgm-eval (layer6ai-labs/dgm-eval at commit 74c79f7, dgm_eval/models/dinov2.py) reads each
image with PIL as RGB, resizes it with torchvision's `Resize((224, 224), BICUBIC)`, which
on a PIL image calls PIL's `Image.resize` (8-bit, antialiased when downsizing), and
applies `ToTensor` (/255) and `Normalize` with the ImageNet mean and std, all in float32:
`dinov2_input` does the same on the device. (Its `--clean_resize` option, PIL's float
resize, is not reproduced here.)
"""

import dataclasses
import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.sharding import Mesh

from an_flax.metrics.extract import sharded_feature_fn
from an_flax.metrics.pil_resample import resize_bicubic_uint8
from an_flax.metrics.statistics import FeatureFn

INPUT_SIZE = 224
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
LAYER_NORM_EPS = 1e-6


@dataclasses.dataclass(frozen=True)
class ViTConfig:
  """Sizes of a DINOv2 ViT; the defaults are `dinov2_vitl14`'s (its hub constructor's)."""

  patch_size: int = 14
  embed_dim: int = 1024
  depth: int = 24
  num_heads: int = 16
  mlp_ratio: int = 4
  pos_grid: int = 37  # The position embeddings' grid: img_size 518 // patch_size.
  interpolate_offset: float = 0.1  # DINOv2's "historical kludge" on the resize scale.


VIT_L14 = ViTConfig()


def _torch_cubic(t: np.ndarray) -> list[np.ndarray]:
  """The four tap weights of torch's `get_cubic_upsample_coefficients` (A = -0.75)."""
  a = np.float32(-0.75)
  near = lambda x: ((a + 2) * x - (a + 3)) * x * x + 1
  far = lambda x: ((a * x - 5 * a) * x + 8 * a) * x - 4 * a
  one = np.float32(1)
  return [far(t + one), near(t), near(one - t), far((one - t) + one)]


@functools.cache
def pos_embed_weights(grid: int, out: int, offset: float) -> np.ndarray:
  """(out, grid) float32 rows of `F.interpolate(mode='bicubic', align_corners=False,
  scale_factor=(out + offset) / grid)` along one axis, as DINOv2 calls it.

  Written by hand because torch's bicubic is not `jax.image.resize`'s: Keys' kernel with
  A = -0.75 (JAX: -0.5), edge pixels repeated (JAX renormalises the weights), and source
  positions from the given scale factor, not from the sizes: x = (i + 0.5) / s - 0.5, so
  the 0.1 offset moves every sample. float32 as torch computes them on float32 data.
  """
  inverse_scale = np.float32(1.0 / ((out + offset) / grid))  # torch: 1.0 / scale, as float.
  x = inverse_scale * (np.arange(out, dtype=np.float32) + np.float32(0.5)) - np.float32(0.5)
  left = np.minimum(np.floor(x), grid - 1)
  t = np.clip(x - left, 0, 1).astype(np.float32)
  weights = np.zeros((out, grid), np.float32)
  for tap, w in enumerate(_torch_cubic(t)):
    index = np.clip(left.astype(np.int64) - 1 + tap, 0, grid - 1)
    np.add.at(weights, (np.arange(out), index), w)
  return weights


def interpolate_pos_embed(pos_embed: jax.Array, grid: int, out_h: int, out_w: int,
                          offset: float) -> jax.Array:
  """(1, 1 + grid^2, D) position embeddings -> (1, 1 + out_h * out_w, D) for an out_h x out_w
  patch grid: DINOv2's `interpolate_pos_encoding`, unchanged when the grids agree."""
  if (out_h, out_w) == (grid, grid):
    return pos_embed
  cls, patches = pos_embed[:, :1], pos_embed[0, 1:].reshape(grid, grid, -1)
  rows, cols = (jnp.asarray(pos_embed_weights(grid, n, offset)) for n in (out_h, out_w))
  patches = jnp.einsum("hm,mnd,wn->hwd", rows, patches, cols, precision=lax.Precision.HIGHEST)
  return jnp.concatenate([cls, patches.reshape(1, out_h * out_w, -1)], axis=1)


def _layer_norm(name: str) -> nn.LayerNorm:
  # Two-pass variance, as torch computes it: E[x^2] - E[x]^2 cancels digits in a token whose
  # mean is large next to its spread.
  return nn.LayerNorm(epsilon=LAYER_NORM_EPS, use_fast_variance=False, name=name)


class PatchEmbed(nn.Module):
  """(N, H, W, 3) -> (N, H/p * W/p, D) patch tokens in row-major grid order."""

  patch_size: int
  embed_dim: int
  precision: lax.Precision

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    p = self.patch_size
    if x.shape[1] % p or x.shape[2] % p:
      raise ValueError(f"Input {x.shape[1]}x{x.shape[2]} is not a multiple of the patch "
                       f"size {p}.")
    x = nn.Conv(self.embed_dim, (p, p), strides=(p, p), padding="VALID",
                precision=self.precision, name="proj")(x)
    return x.reshape(x.shape[0], -1, self.embed_dim)


class Attention(nn.Module):
  """Multi-head self-attention with DINOv2's fused `qkv` projection, scale head_dim^-0.5."""

  num_heads: int
  precision: lax.Precision

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    n, tokens, dim = x.shape
    qkv = nn.Dense(3 * dim, precision=self.precision, name="qkv")(x)
    qkv = qkv.reshape(n, tokens, 3, self.num_heads, dim // self.num_heads)
    y = nn.dot_product_attention(qkv[:, :, 0], qkv[:, :, 1], qkv[:, :, 2],
                                 precision=self.precision)
    return nn.Dense(dim, precision=self.precision, name="proj")(y.reshape(n, tokens, dim))


class Mlp(nn.Module):
  hidden_dim: int
  precision: lax.Precision

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    h = nn.Dense(self.hidden_dim, precision=self.precision, name="fc1")(x)
    h = nn.gelu(h, approximate=False)  # torch.nn.GELU's default: the erf form.
    return nn.Dense(x.shape[-1], precision=self.precision, name="fc2")(h)


class LayerScale(nn.Module):
  """Per-channel scale `gamma` (DINOv2 initialises it to init_values = 1.0)."""

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    return x * self.param("gamma", nn.initializers.ones, (x.shape[-1],))


class Block(nn.Module):
  num_heads: int
  mlp_ratio: int
  precision: lax.Precision

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    y = Attention(self.num_heads, self.precision, name="attn")(_layer_norm("norm1")(x))
    x = x + LayerScale(name="ls1")(y)
    y = Mlp(self.mlp_ratio * x.shape[-1], self.precision, name="mlp")(_layer_norm("norm2")(x))
    return x + LayerScale(name="ls2")(y)


class DinoVisionTransformer(nn.Module):
  """DINOv2's ViT: normalised NHWC images (sides multiples of the patch size) -> the class
  token after the final norm, (N, embed_dim). Inference only (no dropout, drop path or
  masking; the training-only `mask_token` is not a parameter here)."""

  config: ViTConfig = VIT_L14
  precision: lax.Precision = lax.Precision.HIGHEST

  @nn.compact
  def __call__(self, images: jax.Array) -> jax.Array:
    c = self.config
    x = PatchEmbed(c.patch_size, c.embed_dim, self.precision, name="patch_embed")(images)
    cls_token = self.param("cls_token", nn.initializers.normal(1e-6), (1, 1, c.embed_dim))
    pos_embed = self.param("pos_embed", nn.initializers.truncated_normal(0.02),
                           (1, 1 + c.pos_grid ** 2, c.embed_dim))
    x = jnp.concatenate([jnp.broadcast_to(cls_token, (x.shape[0], 1, c.embed_dim)), x], axis=1)
    x = x + interpolate_pos_embed(pos_embed, c.pos_grid, images.shape[1] // c.patch_size,
                                  images.shape[2] // c.patch_size, c.interpolate_offset)
    for i in range(c.depth):
      x = Block(c.num_heads, c.mlp_ratio, self.precision, name=f"blocks_{i}")(x)
    return _layer_norm("norm")(x[:, 0])  # LayerNorm is per token: norm only the class token.


def dinov2_input(images_uint8: jax.Array, size: int = INPUT_SIZE) -> jax.Array:
  """uint8 NHWC RGB images of any size -> float32 (N, size, size, 3), as dgm-eval feeds
  DINOv2: PIL's bicubic resize to size x size, /255, minus the ImageNet mean, over its std."""
  x = resize_bicubic_uint8(images_uint8, size).astype(jnp.float32) / 255.0
  mean = jnp.asarray(IMAGENET_MEAN, jnp.float32)
  std = jnp.asarray(IMAGENET_STD, jnp.float32)
  return (x - mean) / std


def make_dinov2_extractor(variables: dict, *, mesh: Mesh | None = None,
                          config: ViTConfig = VIT_L14, image_size: int = INPUT_SIZE
                          ) -> FeatureFn:
  """Returns `extract(images) -> (features (N, embed_dim), None)` as host float32 arrays.

  Images as `sharded_feature_fn` takes them (uint8, or generated floats in [-1, 1]);
  dgm-eval's input path runs on the device. There are no logits: the second output is None.
  `config` and `image_size` other than the defaults are for tests only.
  """
  model = DinoVisionTransformer(config)
  return sharded_feature_fn(
      lambda v, images: (model.apply(v, dinov2_input(images, image_size)), None),
      variables, mesh)
