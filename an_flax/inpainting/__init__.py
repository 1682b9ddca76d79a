"""Semantic inpainting, the paper's second task: everything but the networks
(`an_flax.models.inpainting`), so that it sits beside the GAN task instead of inside it.

  task.InpaintingTask(config)                       trained by `an_flax.runtime.run`
                                                     (`inpaint.py train`)
  evaluation.evaluate(config, workdir)              PSNR / SSIM / L1 (`inpaint.py evaluate`)
  fill.fill(config, workdir, image, mask, output)   one picture (`inpaint.py fill`)

Modules: config (validation), losses, vgg19 (ID-MRF features), steps (state and the
compiled WGAN-GP step), task (what the shared run needs: state, step, pictures). Batches
come from the shared input pipeline (`an_flax.data.input_pipeline`); the mesh,
checkpoints, loop and pictures are the shared runtime's (`an_flax.runtime`); nothing here
imports the GAN task.
"""
