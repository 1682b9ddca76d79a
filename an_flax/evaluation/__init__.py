"""Evaluation of class-conditional GAN checkpoints: FID / IS / intra-FID, reference
statistics and sample pictures (`eval.py` is the command line).

  evaluate.evaluate_checkpoint(config, workdir, step)  -> `<workdir>/eval_<step>.json`
  evaluate.make_training_fid(config, mesh)             -> fid(state), for the training loop
  reference.compute_reference(config, options, extract, inception)   reference .npz files
  samples.write_samples(config, workdir, step)         -> `<workdir>/samples_<step>/`
  options.EvalOptions.from_config(config)               the `config.eval` fields and defaults

Modules: options (config), restore (checkpoint -> G_ema, standing statistics),
standing_stats, generate (sharded sampling), reference, evaluate, samples.
"""
