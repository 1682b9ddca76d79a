"""How every conv, dense, embedding and BatchNorm of a network is built.

By default this project's way (every conv / dense / embedding xavier_uniform, as the
PyTorch SN-GAN and SA-GAN ports do; Flax's spectral norm; BatchNorm eps 1e-5;
conditional-BN gain and bias tables starting at 1 and 0), or StudioGAN's (orthogonal
init, torch's spectral norm, eps 1e-4, gamma = 1 + W_gain y), so that its checkpoints load
as they are (configs/studiogan).
"""

import dataclasses
from typing import Any

import flax.linen as nn

from an_flax.layers import ConditionalBatchNorm, SelfAttention, SNConv, SNDense, SNEmbed

INITS = {"xavier_uniform": nn.initializers.xavier_uniform(),
         "orthogonal": nn.initializers.orthogonal()}


@dataclasses.dataclass(frozen=True)
class LayerOptions:
  """The layer fields of `config.model`.

  spectral_form: 'flax' or 'torch' (see `an_flax.layers.spectral`).
  init: kernel / embedding initialiser of every conv, dense and embedding (not of AN's
    own projections), a key of `INITS`; biases start at 0.
  bn_epsilon: epsilon of G's BatchNorms (conditional and final).
  cbn_form: 'table' or 'one_plus' (see `an_flax.layers.ConditionalBatchNorm`).
  """

  spectral_form: str = "flax"
  init: str = "xavier_uniform"
  bn_epsilon: float = 1e-5
  cbn_form: str = "table"

  def conv(self, features: int, kernel: int, spectral: bool, dtype: Any, name: str,
           resample: str | None = None) -> SNConv:
    return SNConv(features, (kernel, kernel), spectral=spectral,
                  spectral_form=self.spectral_form, kernel_init=INITS[self.init],
                  resample=resample, dtype=dtype, name=name)

  def dense(self, features: int, spectral: bool, dtype: Any, name: str) -> SNDense:
    return SNDense(features, spectral=spectral, spectral_form=self.spectral_form,
                   kernel_init=INITS[self.init], dtype=dtype, name=name)

  def embed(self, num_classes: int, features: int, dtype: Any, name: str) -> SNEmbed:
    return SNEmbed(num_classes, features, spectral_form=self.spectral_form,
                   embedding_init=INITS[self.init], dtype=dtype, name=name)

  def conditional_bn(self, num_classes: int, spectral: bool, dtype: Any, name: str
                     ) -> ConditionalBatchNorm:
    return ConditionalBatchNorm(
        num_classes, epsilon=self.bn_epsilon, form=self.cbn_form, spectral=spectral,
        spectral_form=self.spectral_form, kernel_init=INITS[self.init], dtype=dtype,
        name=name)

  def batch_norm(self, train: bool, dtype: Any, name: str) -> nn.BatchNorm:
    return nn.BatchNorm(use_running_average=not train, momentum=0.9, epsilon=self.bn_epsilon,
                        dtype=dtype, force_float32_reductions=True, name=name)

  def self_attention(self, spectral: bool, dtype: Any, name: str) -> SelfAttention:
    return SelfAttention(spectral=spectral, spectral_form=self.spectral_form,
                         kernel_init=INITS[self.init], dtype=dtype, name=name)
