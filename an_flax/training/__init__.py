"""GAN training: state, losses, the sharded step, checkpoints, pictures and the loop."""

from an_flax.training.trainer import train_and_evaluate

__all__ = ["train_and_evaluate"]
