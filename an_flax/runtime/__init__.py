"""What every task stands on (the GAN trainer, inpainting, evaluation).

  mesh           device mesh, shardings, global batches, multi-process start-up
  checkpoints    Orbax checkpoints of a state pytree with the config that wrote it
  loop           the pieces of a training loop: SIGTERM guard, batch stacking, metrics
  preemption     SIGTERM -> save and stop, on one or many processes
  pictures       sample sheets, layout maps, PNG files
  config_checks  a task's schema read off its default config, typed field checks
  launch         the multi-process flags and start-up of the command lines
  update_loop    several D / critic updates in a step: scanned, or unrolled on the CPU

Nothing here imports a task.
"""
