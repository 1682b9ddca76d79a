"""The FID Inception-v3 network (pytorch-fid's port of the 2015-12-05 TF graph) in Flax.

Layout, parameter names and arithmetic follow `pytorch_fid.inception.fid_inception_v3`:
torchvision's Inception-v3 with 1008 logits and no aux head, where Mixed_5b-5d, 6b-6e and 7b
average-pool without counting padding (as TF does) and Mixed_7c max-pools in its pool branch.
Submodule names equal the PyTorch ones (`Mixed_5b/branch5x5_1/conv/kernel` <->
`Mixed_5b.branch5x5_1.conv.weight`), so weight conversion is a mechanical renaming.

Inference only: BatchNorm always uses the stored statistics. NHWC throughout.
"""

import dataclasses
from typing import Literal

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax import lax

# Smallest input the stride-2 reductions accept (75 -> 37 -> ... -> 1 after Mixed_7a).
MIN_INPUT_SIZE = 75
NUM_FEATURES = 2048
NUM_LOGITS = 1008

PoolKind = Literal["avg", "max", "max_s2"]


@dataclasses.dataclass(frozen=True)
class ConvSpec:
  """One BasicConv2d: `name` is the PyTorch attribute name; `same` pads by kernel // 2."""

  name: str
  features: int
  kernel: tuple[int, int] = (1, 1)
  stride: int = 1
  same: bool = True


@dataclasses.dataclass(frozen=True)
class BranchSpec:
  """A branch of a Mixed block: optional pool, a chain of convs, optional parallel split.

  `split` holds two convs applied to the chain's output and concatenated, as in the
  InceptionE 1x3 / 3x1 pairs.
  """

  convs: tuple[ConvSpec, ...] = ()
  pool: PoolKind | None = None
  split: tuple[ConvSpec, ConvSpec] | None = None


def _pool(x: jax.Array, kind: PoolKind) -> jax.Array:
  if kind == "avg":  # TF semantics: padded zeros are not counted in the average.
    return nn.avg_pool(x, (3, 3), (1, 1), ((1, 1), (1, 1)), count_include_pad=False)
  if kind == "max":
    return nn.max_pool(x, (3, 3), (1, 1), ((1, 1), (1, 1)))
  return nn.max_pool(x, (3, 3), (2, 2), "VALID")


class BasicConv2d(nn.Module):
  """Conv without bias -> BatchNorm(eps=1e-3, stored statistics) -> ReLU."""

  spec: ConvSpec
  precision: lax.Precision = lax.Precision.HIGHEST

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    kh, kw = self.spec.kernel
    padding = ((kh // 2, kh // 2), (kw // 2, kw // 2)) if self.spec.same else "VALID"
    x = nn.Conv(self.spec.features, self.spec.kernel, self.spec.stride, padding,
                use_bias=False, precision=self.precision, name="conv")(x)
    x = nn.BatchNorm(use_running_average=True, epsilon=1e-3, name="bn")(x)
    return nn.relu(x)


class Mixed(nn.Module):
  """An Inception block: branches run in parallel and are concatenated along channels.

  Convs are created directly under this module (not under a branch submodule) so parameter
  paths match PyTorch's `Mixed_Xy.<conv name>`.
  """

  branches: tuple[BranchSpec, ...]
  precision: lax.Precision = lax.Precision.HIGHEST

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    outputs = []
    for branch in self.branches:
      y = x if branch.pool is None else _pool(x, branch.pool)
      for spec in branch.convs:
        y = BasicConv2d(spec, self.precision, name=spec.name)(y)
      if branch.split is not None:
        y = jnp.concatenate(
            [BasicConv2d(s, self.precision, name=s.name)(y) for s in branch.split], axis=-1)
      outputs.append(y)
    return jnp.concatenate(outputs, axis=-1)


def inception_a(pool_features: int) -> tuple[BranchSpec, ...]:
  """Mixed_5b/5c/5d (FIDInceptionA)."""
  return (
      BranchSpec((ConvSpec("branch1x1", 64),)),
      BranchSpec((ConvSpec("branch5x5_1", 48), ConvSpec("branch5x5_2", 64, (5, 5)))),
      BranchSpec((ConvSpec("branch3x3dbl_1", 64), ConvSpec("branch3x3dbl_2", 96, (3, 3)),
                  ConvSpec("branch3x3dbl_3", 96, (3, 3)))),
      BranchSpec((ConvSpec("branch_pool", pool_features),), pool="avg"),
  )


def inception_b() -> tuple[BranchSpec, ...]:
  """Mixed_6a: grid reduction 35 -> 17."""
  return (
      BranchSpec((ConvSpec("branch3x3", 384, (3, 3), 2, same=False),)),
      BranchSpec((ConvSpec("branch3x3dbl_1", 64), ConvSpec("branch3x3dbl_2", 96, (3, 3)),
                  ConvSpec("branch3x3dbl_3", 96, (3, 3), 2, same=False))),
      BranchSpec(pool="max_s2"),
  )


def inception_c(c7: int) -> tuple[BranchSpec, ...]:
  """Mixed_6b-6e (FIDInceptionC) with factorised 7x7 convs of width `c7`."""
  return (
      BranchSpec((ConvSpec("branch1x1", 192),)),
      BranchSpec((ConvSpec("branch7x7_1", c7), ConvSpec("branch7x7_2", c7, (1, 7)),
                  ConvSpec("branch7x7_3", 192, (7, 1)))),
      BranchSpec((ConvSpec("branch7x7dbl_1", c7), ConvSpec("branch7x7dbl_2", c7, (7, 1)),
                  ConvSpec("branch7x7dbl_3", c7, (1, 7)), ConvSpec("branch7x7dbl_4", c7, (7, 1)),
                  ConvSpec("branch7x7dbl_5", 192, (1, 7)))),
      BranchSpec((ConvSpec("branch_pool", 192),), pool="avg"),
  )


def inception_d() -> tuple[BranchSpec, ...]:
  """Mixed_7a: grid reduction 17 -> 8."""
  return (
      BranchSpec((ConvSpec("branch3x3_1", 192),
                  ConvSpec("branch3x3_2", 320, (3, 3), 2, same=False))),
      BranchSpec((ConvSpec("branch7x7x3_1", 192), ConvSpec("branch7x7x3_2", 192, (1, 7)),
                  ConvSpec("branch7x7x3_3", 192, (7, 1)),
                  ConvSpec("branch7x7x3_4", 192, (3, 3), 2, same=False))),
      BranchSpec(pool="max_s2"),
  )


def inception_e(pool: PoolKind) -> tuple[BranchSpec, ...]:
  """Mixed_7b (FIDInceptionE_1, pool='avg') and Mixed_7c (FIDInceptionE_2, pool='max')."""
  return (
      BranchSpec((ConvSpec("branch1x1", 320),)),
      BranchSpec((ConvSpec("branch3x3_1", 384),),
                 split=(ConvSpec("branch3x3_2a", 384, (1, 3)),
                        ConvSpec("branch3x3_2b", 384, (3, 1)))),
      BranchSpec((ConvSpec("branch3x3dbl_1", 448), ConvSpec("branch3x3dbl_2", 384, (3, 3))),
                 split=(ConvSpec("branch3x3dbl_3a", 384, (1, 3)),
                        ConvSpec("branch3x3dbl_3b", 384, (3, 1)))),
      BranchSpec((ConvSpec("branch_pool", 192),), pool=pool),
  )


# Two groups of stem convs, each followed by a 3x3 stride-2 max pool (maxpool1, maxpool2).
STEM = (
    (ConvSpec("Conv2d_1a_3x3", 32, (3, 3), 2, same=False),
     ConvSpec("Conv2d_2a_3x3", 32, (3, 3), same=False),
     ConvSpec("Conv2d_2b_3x3", 64, (3, 3))),
    (ConvSpec("Conv2d_3b_1x1", 80),
     ConvSpec("Conv2d_4a_3x3", 192, (3, 3), same=False)),
)

MIXED = (
    ("Mixed_5b", inception_a(32)),
    ("Mixed_5c", inception_a(64)),
    ("Mixed_5d", inception_a(64)),
    ("Mixed_6a", inception_b()),
    ("Mixed_6b", inception_c(128)),
    ("Mixed_6c", inception_c(160)),
    ("Mixed_6d", inception_c(160)),
    ("Mixed_6e", inception_c(192)),
    ("Mixed_7a", inception_d()),
    ("Mixed_7b", inception_e("avg")),
    ("Mixed_7c", inception_e("max")),
)


class FIDInceptionV3(nn.Module):
  """pytorch-fid's FID Inception-v3.

  Input: NHWC float images in [-1, 1], 299x299 for real use (any size >= 75 runs).
  Returns `(pool3, logits)` of shapes (N, 2048) and (N, 1008).

  `logits_with_bias=False` drops the fc bias, as the TF/OpenAI Inception Score code does
  (it multiplies pool3 by the `softmax/logits/MatMul` weights only); the bias parameter is
  still present so the weights file layout is unchanged.
  """

  logits_with_bias: bool = True
  precision: lax.Precision = lax.Precision.HIGHEST

  @nn.compact
  def __call__(self, x: jax.Array) -> tuple[jax.Array, jax.Array]:
    for group in STEM:
      for spec in group:
        x = BasicConv2d(spec, self.precision, name=spec.name)(x)
      x = _pool(x, "max_s2")
    for name, branches in MIXED:
      x = Mixed(branches, self.precision, name=name)(x)
    pool3 = jnp.mean(x, axis=(1, 2))  # Global average pool; dropout is off at inference.
    fc = nn.Dense(NUM_LOGITS, precision=self.precision, name="fc")
    logits = fc(pool3)
    if not self.logits_with_bias:
      logits = jnp.dot(pool3, fc.variables["params"]["kernel"], precision=self.precision)
    return pool3, logits
