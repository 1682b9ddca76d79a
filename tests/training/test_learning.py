"""The GAN learns its classes: a short tiny-width run on `symmetric_shapes` draws class y
as y (the shipped classifier agrees), and the same run on labels scrambled in the data
(tests/training/scrambled_labels_train.py) does not.

Calibration: `python -m pytest tests/training/test_learning.py --learning_seeds=0,1,2
-s` runs the test at each seed and prints every run's class accuracy (chance is 0.1); the
numbers are at THRESHOLD. CI runs seed 0.
"""

import re

from training.helpers import as_flags, start_training, subprocess_env

STEPS = 600
# Class accuracy of 500 samples of G_ema after STEPS steps, measured by the calibration
# command above (seeds 0, 1, 2): labelled 0.642, 0.446, 0.522; scrambled 0.118, 0.098,
# 0.124. The threshold sits midway: 0.16 below the lowest labelled run, 0.16 above the
# highest scrambled one.
THRESHOLD = 0.28
LEARNING = {
    "batch_size": 16, "num_train_steps": STEPS, "ema.start_step": 0, "ema.decay": 0.9,
    "log_every_steps": 100, "checkpoint.every_steps": STEPS,
    "evals.shapes.every_steps": STEPS, "evals.shapes.num_samples": 500,
}


def _class_accuracy(workdir: str, data_dir: str, compile_cache: str, seed: int,
                    script: str) -> float:
  # XLA's default optimisation: 600 steps run faster than at -O0 (helpers.FAST_COMPILE_FLAG).
  process = start_training(workdir, data_dir, compile_cache, *as_flags({**LEARNING, "seed": seed}),
                           script=script, env=subprocess_env(compile_cache, fast_compile=False))
  log, _ = process.communicate(timeout=600)
  assert process.returncode == 0, log[-3000:]
  accuracy = float(re.search(rf"Step {STEPS}: .*shapes/class_accuracy ([0-9.e-]+)", log)[1])
  print(f"seed {seed} {script}: class accuracy {accuracy:.3f}")
  return accuracy


def test_a_short_run_learns_its_classes_and_scrambled_labels_do_not(
    tmp_path, data_dir, compile_cache, learning_seed):
  labelled = _class_accuracy(str(tmp_path / "labelled"), data_dir, compile_cache,
                             learning_seed, "train.py")
  scrambled = _class_accuracy(str(tmp_path / "scrambled"), data_dir, compile_cache,
                              learning_seed, "tests/training/scrambled_labels_train.py")
  assert labelled > THRESHOLD > scrambled, (labelled, scrambled)
