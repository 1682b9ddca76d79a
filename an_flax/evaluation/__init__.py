"""Evaluation of class-conditional GAN checkpoints: FID / IS / intra-FID or, on the embedded
`symmetric_shapes` data, the shapes classifier's metrics (`eval.feature_network`), reference
statistics, sample pictures (`eval.py` is the command line) and the evaluators the
trainer runs.

  evaluate.evaluate_checkpoint(config, workdir, step)   -> `<workdir>/eval_<step>.json`
  reference.write_reference(config)                     reference .npz files
  samples.write_samples(config, workdir, step)          -> `<workdir>/samples_<step>/`
  in_training.evaluators_from_config(config)            evaluators for train_and_evaluate
  options.check_eval_config(config)                     checks of the `config.eval` fields

Modules: options, restore (checkpoint -> G_ema, standing statistics), standing_stats,
generate (sharded sampling), reference, evaluate, shapes (the shapes metrics against the
real test split), samples, in_training, train_shapes_classifier (makes the shipped
classifier weights: `python -m an_flax.evaluation.train_shapes_classifier --image_size 32`). Checkpoints are
read through the GAN task's state definitions (`an_flax.training.state`), never through
its trainer.
"""
