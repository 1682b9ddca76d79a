"""What every task stands on (the class-conditional GAN, inpainting) and evaluation uses.

  run            the run of any task: checks, lock, mesh, checkpoints, restore, compile,
                 prefetch, the loop, pictures and evaluators; the `Task` protocol
  evaluators     evaluators chosen by name from `config.evals`; the `Evaluator` protocol
  loop           the training loop and its pieces: batch stacking, prefetch, metrics
  checkpoints    Orbax checkpoints of a state pytree with the config that wrote it
  mesh           device mesh, shardings, global batches, multi-process start-up
  preemption     SIGTERM -> save and stop, on one or many processes
  workdir        the run directory: checked writable, locked while a run uses it
  pictures       sample sheets, layout maps, PNG files
  config_checks  a task's schema read off its base config, typed field checks
  launch         the multi-process flags and start-up of the command lines
  update_loop    several D / critic updates in a step: scanned, or unrolled on the CPU
  streams        every random stream a config's seed feeds, named once
  hardware, xla_cpu   peak FLOP/s for the MFU; the XLA:CPU options

Nothing here imports a task; `run` reads batches from the shared input pipeline.
"""
