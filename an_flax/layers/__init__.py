"""Linen layers: Attentive Normalization and the modules it is compared with."""

from an_flax.layers.attentive_norm import AttentiveNorm
from an_flax.layers.conditional_bn import ConditionalBatchNorm
from an_flax.layers.self_attention import SelfAttention
from an_flax.layers.spectral import SNConv, SNDense, SNEmbed, SPECTRAL_COLLECTION

__all__ = [
    "AttentiveNorm", "ConditionalBatchNorm", "SelfAttention",
    "SNConv", "SNDense", "SNEmbed", "SPECTRAL_COLLECTION",
]
