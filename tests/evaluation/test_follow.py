"""eval.py beside training (`follow`: each checkpoint once, as it lands, until the run ends)
and on two processes (the same record as one process)."""

import json
import os
import shutil
import threading
import time

import pytest

from an_flax.evaluation import evaluate, shapes_metrics
from an_flax.runtime import workdir as workdir_lib
import job_helpers
from evaluation.conftest import ROOT, TINY_CONFIG


@pytest.fixture
def shapes_config(tiny_config, data_dir):
  tiny_config.dataset.data_dir = data_dir
  tiny_config.sampling.standing_stats_batches = 0
  shapes_metrics.read_split(tiny_config, shapes_metrics.SPLIT, 16)  # generated before use
  return tiny_config


def _copy(workdir: str, destination, steps) -> str:
  for step in steps:
    shutil.copytree(os.path.join(workdir, "checkpoints", str(step)),
                    destination / "checkpoints" / str(step))
  return str(destination)


def test_follow_scores_each_checkpoint_as_it_lands_until_the_last_step(
    shapes_config, workdir, tmp_path):
  run = _copy(workdir, tmp_path / "run", [1])
  (tmp_path / "run" / workdir_lib.LOCK_NAME).write_text("{}")  # a training run is on
  shapes_config.num_train_steps = 3

  def land_step_3():  # training saves step 3 once step 1 is scored
    while not os.path.exists(os.path.join(run, "eval_1.json")):
      time.sleep(0.05)
    _copy(workdir, tmp_path / "run", [3])

  lander = threading.Thread(target=land_step_3)
  lander.start()
  scored = evaluate.follow(shapes_config, run, ["shapes"], poll_seconds=0.1)
  lander.join()
  assert scored == [1, 3]
  for step in scored:
    with open(os.path.join(run, f"eval_{step}.json")) as f:
      assert json.load(f)["step"] == step
  assert evaluate.follow(shapes_config, run, ["shapes"], poll_seconds=0.1) == []  # all done


def test_follow_stops_when_the_run_is_over(shapes_config, workdir, tmp_path):
  run = _copy(workdir, tmp_path / "run", [1, 3])  # no lock: no run writes here
  assert evaluate.follow(shapes_config, run, ["shapes"], poll_seconds=0.1) == [1, 3]


def test_two_processes_write_the_record_one_process_writes(shapes_config, workdir, data_dir,
                                                           tmp_path):
  """Sampling and features sharded over both processes' devices; process 0 writes."""
  one = _copy(workdir, tmp_path / "one", [3])
  two = _copy(workdir, tmp_path / "two", [3])
  expected = evaluate.evaluate_checkpoint(shapes_config, one, names=["shapes"])
  statuses, logs = job_helpers.run_job(
      ["eval.py", f"--config={TINY_CONFIG}", f"--workdir={two}", "--evals=shapes",
       f"--config.dataset.data_dir={data_dir}", "--config.sampling.standing_stats_batches=0"],
      ROOT, devices_per_process=2)
  assert statuses == [0, 0], logs[0][-3000:] + logs[1][-3000:]
  assert "Frechet distance" in logs[0] and "Frechet distance" not in logs[1]  # 0 reports
  with open(os.path.join(two, "eval_3.json")) as f:
    record = json.load(f)
  assert record["devices"] == 4 and record["step"] == 3
  results = record["evals"]["shapes"]["results"]
  for name, value in expected["evals"]["shapes"]["results"].items():
    assert results[name] == pytest.approx(value, rel=1e-4, abs=1e-6), name
