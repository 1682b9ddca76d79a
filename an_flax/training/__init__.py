"""GAN training: state, losses, the sharded step, checkpoints, pictures and the loop
(`trainer.train_and_evaluate`)."""
