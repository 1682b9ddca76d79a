"""Linen layers: Attentive Normalization and the modules it is compared with."""

from an_flax.layers.attentive_norm import AttentiveNorm
from an_flax.layers.conditional_bn import CBN_FORMS, ConditionalBatchNorm
from an_flax.layers.self_attention import SelfAttention
from an_flax.layers.spectral import (
    SPECTRAL_COLLECTION, SPECTRAL_FORMS, SNConv, SNDense, SNEmbed, TorchSpectralNorm)

__all__ = [
    "AttentiveNorm", "CBN_FORMS", "ConditionalBatchNorm", "SelfAttention",
    "SNConv", "SNDense", "SNEmbed", "SPECTRAL_COLLECTION", "SPECTRAL_FORMS",
    "TorchSpectralNorm",
]
