"""The class-conditional GAN task: config checks, train state, losses, the sharded step and
the loop (`trainer.train_and_evaluate`), on the shared runtime (`an_flax.runtime`)."""
