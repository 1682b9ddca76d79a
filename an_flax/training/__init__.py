"""The class-conditional GAN task (`task.GanTask`): config checks, train state, losses and
the sharded step; the shared run (`an_flax.runtime.run`) trains it."""
