"""Evaluation of class-conditional GAN checkpoints (`eval.py` is the command line) and the
evaluators a training run calls.

  evaluators.build(config, mesh, generator, training)   the evaluators of `config.evals`,
                                                         one module per type (inception,
                                                         dinov2, shapes)
  evaluate.evaluate_checkpoint(config, workdir, step)   -> `<workdir>/eval_<step>.json`
  evaluators.write_references(config, names)            the inception and dinov2 entries'
                                                         reference statistics and features
  protocols.write_protocols(config, workdir, step)      -> `<workdir>/protocols_<step>.md`:
                                                         every resize x network x IS setting
  samples.write_samples(config, workdir, step)          -> `<workdir>/samples_<step>/`

Modules: restore (checkpoint -> G_ema, standing statistics), standing_stats, generate
(sharded sampling), reference (a feature network's reference split), feature_metrics
(what the inception and dinov2 evaluators share), shapes_metrics (the shapes metrics
against the real test split), evaluate, protocols, samples, train_shapes_classifier
(makes the shipped classifier weights: `python -m an_flax.evaluation.train_shapes_classifier
--image_size 32`). Checkpoints are read through the GAN task's state definitions
(`an_flax.training.state`), never through its task or step.
"""
