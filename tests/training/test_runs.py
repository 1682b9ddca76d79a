"""End-to-end runs of train.py: resume after SIGKILL and SIGTERM, divergence, resume across
topologies, a lost process of a two-process job, and two processes with the periodic FID.

Every run is a subprocess on the tiny default config over the embedded
dataset. They share a persistent XLA cache, so each program compiles once.
"""

import importlib.util
import os
import re
import signal
import subprocess
import time

import jax
import numpy as np
import pytest

from an_flax import metrics
from an_flax.evaluation import evaluators
from an_flax.runtime import mesh as mesh_lib, peers, run
from an_flax.runtime.checkpoints import Checkpointer
from an_flax.runtime.preemption import PREEMPTED_EXIT_CODE
from an_flax.training.task import GanTask
import job_helpers
from training.helpers import TINY, WITH_FID_CONFIG, override, start_training, tiny_config

STEPS = 24
EVERY = 4


def _finish(process: subprocess.Popen, timeout: float = 400) -> str:
  output, _ = process.communicate(timeout=timeout)
  return output


def _assert_identical(a, b) -> None:
  """Every array of two train states is bit-identical."""
  for (path, x), y in zip(jax.tree_util.tree_leaves_with_path(a), jax.tree.leaves(b)):
    np.testing.assert_array_equal(np.asarray(x), np.asarray(y),
                                  err_msg=jax.tree_util.keystr(path))


def _wait_for(condition, process: subprocess.Popen, timeout: float = 300) -> None:
  deadline = time.monotonic() + timeout
  while not condition():
    assert process.poll() is None, "the run ended early"
    assert time.monotonic() < deadline, "timed out"
    time.sleep(0.05)


def _read(path: str) -> str:
  with open(path) as f:
    return f.read()


def _steps(workdir) -> list[int]:
  names = os.listdir(os.path.join(workdir, "checkpoints"))
  return sorted(int(name) for name in names if name.isdigit())


def test_interrupted_run_resumes_to_the_same_state_and_divergence_stops(
    tmp_path, data_dir, compile_cache):
  run = lambda workdir, *extra, log=None: start_training(
      str(workdir), data_dir, compile_cache, f"--config.checkpoint.every_steps={EVERY}", *extra,
      log_path=log)

  # Reference: one uninterrupted run of STEPS steps.
  reference = tmp_path / "reference"
  log = _finish(run(reference, f"--config.num_train_steps={STEPS}"))
  assert f"Finished at step {STEPS}" in log, log[-3000:]
  expected = _restore(tiny_config(data_dir), str(reference))
  assert int(expected.step) == STEPS
  assert os.path.isfile(reference / "samples" / f"step_{STEPS:06d}.png")
  assert os.path.isfile(reference / "layouts" / f"step_{STEPS:06d}.png")
  assert _steps(reference)[-1] == STEPS

  # The constant learning rate makes the trajectory independent of num_train_steps,
  # so the interrupted runs may aim further than STEPS.
  interrupted = tmp_path / "interrupted"
  killed_log = str(tmp_path / "killed.log")
  process = run(interrupted, "--config.num_train_steps=1000", log=killed_log)
  _wait_for(lambda: os.path.isdir(interrupted / "checkpoints" / str(EVERY)), process)
  process.send_signal(signal.SIGKILL)  # between checkpoints, maybe during the next save
  process.wait()
  complete = _steps(interrupted)
  assert complete and complete[-1] < STEPS - 2, (complete, _read(killed_log)[-2000:])

  terminated_log = str(tmp_path / "terminated.log")
  process = run(interrupted, "--config.num_train_steps=1000", log=terminated_log)
  _wait_for(lambda: "Training from step" in _read(terminated_log), process)
  process.send_signal(signal.SIGTERM)
  # Preempted is not finished: a documented non-zero status, so a scheduler requeues it.
  assert process.wait(timeout=300) == PREEMPTED_EXIT_CODE, _read(terminated_log)[-3000:]
  log = _read(terminated_log)
  assert f"Restored step {complete[-1]} from" in log
  assert "Taking over the stale lock" in log  # the killed run's lock: its process is gone
  stopped = int(re.search(r"Preempted \(SIGTERM\): saved a checkpoint of step (\d+)\. Run the "
                          r"same command to resume", log).group(1))
  assert stopped > complete[-1] and _steps(interrupted)[-1] == stopped
  assert "Finished" not in log

  log = _finish(run(interrupted, f"--config.num_train_steps={STEPS}"))
  assert f"Restored step {stopped} from" in log and f"Finished at step {STEPS}" in log
  _assert_identical(_restore(tiny_config(data_dir), str(interrupted)), expected)

  # A diverging continuation stops with the step named and keeps the last checkpoint.
  process = run(interrupted, f"--config.num_train_steps={STEPS + 8}", "--config.optim.g_lr=1e30",
                "--config.optim.d_lr=1e30")
  log = _finish(process)
  assert process.returncode != 0
  failed = int(re.search(r"Training diverged at step (\d+): d_fake=", log).group(1))
  assert STEPS < failed <= STEPS + 8
  assert f"the newest checkpoint is step {STEPS}" in log
  assert _steps(interrupted)[-1] == STEPS
  state = _restore(tiny_config(data_dir), str(interrupted))
  assert int(state.step) == STEPS
  _assert_identical(state, expected)


def _restore(config, workdir):
  """The newest checkpoint of `workdir`, restored in this process (8 devices)."""
  checkpointer = Checkpointer(workdir, config.checkpoint.every_steps, config.checkpoint.keep,
                              read_only=True)
  try:
    return run.restore_or_initialize(GanTask(config), mesh_lib.create_mesh(), checkpointer)[0]
  finally:
    checkpointer.close()


def _load(path: str):
  spec = importlib.util.spec_from_file_location("config_file", path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module.get_config()


def _logged_fids(log: str) -> dict[int, float]:
  return {int(step): float(fid) for step, fid in
          re.findall(r"Step (\d+): fid/fid ([-+.e0-9]+), fid/inception_score", log)}


def test_topologies_a_lost_process_and_two_processes_agreeing(
    tmp_path, data_dir, compile_cache, inception_weights):
  """One run across topologies: 8 devices in this process, then `train.py` on 1 device, then
  two processes of two CPU devices each over gloo, as two hosts would run. Killing one of
  those stops the other with the lost-process status and message within the heartbeat
  bound; the same two-process command resumes, with the periodic FID of G_ema agreeing
  between the processes (random Inception weights at 75x75: the wiring, not the score)."""
  reference = str(tmp_path / "reference.npz")
  # With a zero reference covariance the matrix under the sqrtm is 0, finite at the first
  # try: scipy's slow 2048x2048 sqrtm runs once per FID, not twice (singular retry).
  metrics.save_statistics(reference, metrics.Statistics(np.zeros(2048), np.zeros((2048, 2048))))
  fid_flags = {"evals.fid.every_steps": 1000, "evals.fid.training_num_samples": 8,
               "sampling.batch_size": 8, "evals.fid.is_splits": 2,
               "evals.fid.inception_size": 75, "evals.fid.inception_weights": inception_weights,
               "evals.fid.reference_stats": reference}
  config = override(_load(WITH_FID_CONFIG), {**TINY, "dataset.data_dir": data_dir,
                                             "num_train_steps": 2})
  workdir = tmp_path / "run"
  run.run_training(GanTask(config), str(workdir))  # 8 devices
  log = _finish(start_training(str(workdir), data_dir, compile_cache,
                               "--config.num_train_steps=4", config_file=WITH_FID_CONFIG))
  assert "Restored step 2 from" in log and "Finished at step 4" in log, log[-3000:]  # 1 device

  address = f"127.0.0.1:{job_helpers.free_port()}"
  two_processes = lambda steps, *extra: [start_training(
      str(workdir), data_dir, compile_cache, f"--config.num_train_steps={steps}",
      *[f"--config.{k}={v}" for k, v in fid_flags.items()],
      f"--coordinator_address={address}", "--num_processes=2", f"--process_id={i}",
      "--heartbeat_timeout_seconds=10", *extra, num_devices=2,
      log_path=str(tmp_path / f"process{i}.log"), config_file=WITH_FID_CONFIG)
      for i in range(2)]
  survivor, victim = two_processes(1000)
  _wait_for(lambda: _steps(workdir)[-1] >= 8, survivor)
  victim.kill()
  killed = time.monotonic()
  assert survivor.wait(timeout=60) == peers.PEER_LOST_EXIT_CODE, _read(
      str(tmp_path / "process0.log"))[-3000:]
  assert time.monotonic() - killed < 10 + 15  # the heartbeat timeout, and some polling
  log = _read(str(tmp_path / "process0.log"))
  newest = max(int(n) for n in re.findall(r"the newest checkpoint is step (\d+)", log))
  assert "process 1 of the 2-process job is gone" in log and newest >= 8
  assert "Restart every process with the same command" in log and "Traceback" not in log
  assert "Check failure stack trace" not in log

  address = f"127.0.0.1:{job_helpers.free_port()}"
  processes = two_processes(newest + 2)
  for process in processes:
    _finish(process)
  logs = [_read(str(tmp_path / f"process{i}.log")) for i in range(2)]
  assert [p.returncode for p in processes] == [0, 0], logs[0][-3000:] + logs[1][-3000:]
  assert "Process 1 of 2 joined the job" in logs[1] and f"Restored step {newest} from" in logs[1]
  assert _steps(workdir)[-1] == newest + 2
  state = _restore(config, str(workdir))
  assert int(state.step) == newest + 2

  # Both processes score the same samples (one FID each, at the last step: 2048x2048
  # sqrtms are slow here), so both held the same G_ema.
  fids = [_logged_fids(log) for log in logs]
  assert sorted(fids[0]) == [newest + 2] and fids[1] == fids[0], logs[0][-3000:]
  # The FID of the saved state, recomputed here on 8 devices in one process (the last
  # digit of the log line is the tolerance; sharding may flip a rare uint8 rounding).
  config = override(config, fid_flags)
  [fid] = evaluators.build(config, mesh_lib.create_mesh(), GanTask(config).generator,
                           training=True)
  expected = fid({"params": state.ema_params, **state.ema_state})["fid/fid"]
  assert fids[0][newest + 2] == pytest.approx(expected, rel=1e-4)
  events = [name for name in os.listdir(workdir) if name.startswith("events.out.tfevents")]
  assert {"fid/fid", "fid/inception_score"} <= set().union(
      *(_event_tags(os.path.join(workdir, name)) for name in events))


def _event_tags(path: str) -> set[str]:
  from tensorboard.backend.event_processing import event_accumulator
  accumulator = event_accumulator.EventAccumulator(path)
  accumulator.Reload()
  tags = accumulator.Tags()
  return set(tags["scalars"]) | set(tags["tensors"])


def test_missing_inception_weights_stop_training_before_the_first_step(
    tmp_path, data_dir, compile_cache):
  missing = tmp_path / "inception_fid.npz"
  process = start_training(str(tmp_path / "run"), data_dir, compile_cache,
                           "--config.evals.fid.every_steps=2",
                           f"--config.evals.fid.inception_weights={missing}",
                           config_file=WITH_FID_CONFIG)
  log = _finish(process)
  assert process.returncode != 0
  assert "config.evals.fid.inception_weights" in log and str(missing) in log
  assert not os.path.exists(tmp_path / "run" / "checkpoints")
