"""A run with every recipe switch on (random flips, accumulation, DiffAugment, LeCam,
G_ortho) stopped and resumed ends bit-identical to the uninterrupted run: the batches a step
reads, their flips and LeCam's anchors all resume. train.py subprocesses sharing one XLA
cache, as tests/training/test_runs.py runs them."""

import shutil

from training.helpers import as_flags, override, start_training, tiny_config
from training.test_runs import _assert_identical, _finish, _restore

SWITCHES = {"dataset.random_flip": True, "optim.accumulation_steps": 2,
            "augment.diffaug_policy": "color,translation,cutout", "loss.lecam_lambda": 0.1,
            "loss.lecam_ema_start_iter": 1, "optim.g_ortho": 1e-4, "checkpoint.every_steps": 2,
            "ema.start_step": 1}


def test_a_resumed_run_with_every_switch_is_the_uninterrupted_run(tmp_path, data_dir,
                                                                  compile_cache):
  def train(workdir):
    log = _finish(start_training(str(workdir), data_dir, compile_cache, *as_flags(SWITCHES),
                                 "--config.num_train_steps=4"))
    assert "Finished at step 4" in log, log[-3000:]
    return log

  uninterrupted, resumed = tmp_path / "uninterrupted", tmp_path / "resumed"
  train(uninterrupted)
  # The run as it stood after step 2 (its checkpoint every 2 steps), continued by a new process.
  shutil.copytree(uninterrupted / "checkpoints" / "2", resumed / "checkpoints" / "2")
  assert "Restored step 2 from" in train(resumed)
  config = override(tiny_config(data_dir), SWITCHES)
  state = _restore(config, str(resumed))
  assert int(state.step) == 4 and state.lecam is not None
  _assert_identical(state, _restore(config, str(uninterrupted)))
