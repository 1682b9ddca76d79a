"""Faults injected into train.py runs, as a user meets them: what is printed, the exit
status, and that no checkpoint is lost.

Subprocesses on the tiny default config over the embedded dataset, sharing the session's
persistent XLA cache; the runs of one test continue the same workdir.
"""

import os
import re
import signal
import socket
import subprocess
import sys
import time

from an_flax.runtime import workdir as workdir_lib
from an_flax.runtime.preemption import PREEMPTED_EXIT_CODE
from runtime import faults
from training.helpers import REPO, start_training, subprocess_env

EVERY = 2


def _run(workdir, data_dir, compile_cache, steps: int, *extra: str, env=None):
  process = start_training(str(workdir), data_dir, compile_cache,
                           f"--config.num_train_steps={steps}",
                           f"--config.checkpoint.every_steps={EVERY}",
                           "--config.checkpoint.keep=5", *extra, env=env)
  output, _ = process.communicate(timeout=400)
  return process.returncode, output


def _steps(workdir) -> list[str]:
  return sorted(os.listdir(os.path.join(workdir, "checkpoints")))


def _step_dir(workdir, step: int) -> str:
  return os.path.join(workdir, "checkpoints", str(step))


def test_damaged_newest_checkpoints_fall_back_to_older_ones(tmp_path, data_dir, compile_cache):
  workdir = tmp_path / "run"
  code, log = _run(workdir, data_dir, compile_cache, 6)
  assert code == 0, log[-3000:]
  assert _steps(workdir) == ["2", "4", "6"]

  # A truncated data file of the newest step: step 6 is set aside, step 4 resumes.
  data = [os.path.join(d, f) for d, _, names in os.walk(os.path.join(_step_dir(workdir, 6),
                                                                    "state")) for f in names]
  biggest = max(data, key=os.path.getsize)
  with open(biggest, "r+b") as f:
    f.truncate(os.path.getsize(biggest) // 2)
  code, log = _run(workdir, data_dir, compile_cache, 6)
  assert code == 0, log[-3000:]
  assert re.search(r"Checkpoint step 6 is damaged \(.*OUT_OF_RANGE.*\): moved aside to "
                   r".*checkpoints/6\.damaged; trying an older one", log), log[-3000:]
  assert "Restored step 4 from" in log and "Finished at step 6" in log
  assert _steps(workdir) == ["2", "4", "6", "6.damaged"]

  # Missing metadata is damage, not "an incompatible config".
  os.remove(os.path.join(_step_dir(workdir, 6), "state", "_METADATA"))
  code, log = _run(workdir, data_dir, compile_cache, 6)
  assert code == 0, log[-3000:]
  assert "array metadata (state/_METADATA) is missing" in log and "incompatible" not in log
  assert "Restored step 4 from" in log

  # Nothing readable: one message listing what was tried, nothing deleted.
  for step in (2, 4, 6):
    os.remove(os.path.join(_step_dir(workdir, step), "state", "manifest.ocdbt"))
  code, log = _run(workdir, data_dir, compile_cache, 6)
  assert code == 1, log[-3000:]
  assert "train.py: error: No checkpoint in" in log and "Tried:" in log
  assert all(f"step {step}: " in log for step in (2, 4, 6)) and "Traceback" not in log
  assert _steps(workdir) == ["2.damaged", "4.damaged", "6.damaged", "6.damaged1",
                             "6.damaged2"]


def test_a_full_disk_stops_the_run_at_the_next_log_with_one_message(
    tmp_path, data_dir, compile_cache):
  """The save of step 4 fails in its background commit (injected, as TensorStore fails on a
  full disk): the run stops by the next log (step 6) instead of the next save."""
  env = subprocess_env(compile_cache)
  env.update(AN_FLAX_TEST_DISK_FULL_STEP="4",
             PYTHONPATH=os.pathsep.join([faults.sitecustomize_dir(tmp_path), REPO]))
  workdir = tmp_path / "run"
  code, log = _run(workdir, data_dir, compile_cache, 20, env=env)
  assert code == 1, log[-3000:]
  errors = [line for line in log.splitlines() if "error:" in line]
  assert len(errors) == 1 and errors[0].startswith(
      "train.py: error: Saving the checkpoint of step 4 to"), errors
  assert "No space left on device" in errors[0] and "MiB are free" in errors[0]
  assert "newest complete checkpoint is step 2" in errors[0]
  assert "Traceback" not in log
  logged_steps = [int(s) for s in re.findall(r"\[(\d+)\] d_fake=", log)]
  assert max(logged_steps) <= 6, logged_steps  # stopped within a log interval of the failure
  assert _steps(workdir) == ["2"]  # the partial step 4 was removed, step 2 kept


def test_a_second_run_on_a_workdir_in_use_is_refused(tmp_path, data_dir, compile_cache):
  workdir = tmp_path / "run"
  holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
  try:
    os.makedirs(workdir)
    with open(workdir / workdir_lib.LOCK_NAME, "w") as f:
      f.write(f'{{"host": "{socket.gethostname()}", "pid": {holder.pid}, '
              '"started": "2026-12-01T10:00:00", "command": "train.py (the first run)"}')
    code, log = _run(workdir, data_dir, compile_cache, 4)
  finally:
    holder.kill()
    holder.wait()
  assert code == 1, log[-3000:]
  assert (f"train.py: error: Another run is using this workdir (host {socket.gethostname()}, "
          f"pid {holder.pid}, started 2026-12-01T10:00:00") in log
  assert not os.path.exists(workdir / "checkpoints")
  assert not [name for name in os.listdir(workdir) if name.startswith("events")]


def test_sigterm_while_compiling_exits_within_seconds(tmp_path, data_dir, compile_cache):
  """Without the compilation cache and at full XLA optimisation the step compiles for
  tens of seconds; SIGTERM there ends the run at once, with nothing new to save."""
  env = subprocess_env(compile_cache)
  env.pop("JAX_COMPILATION_CACHE_DIR")
  env["XLA_FLAGS"] = "--xla_force_host_platform_device_count=1"
  log_path = tmp_path / "run.log"
  process = start_training(str(tmp_path / "run"), data_dir, compile_cache,
                           "--config.num_train_steps=4", env=env, log_path=str(log_path))
  deadline = time.monotonic() + 300
  while "Discriminator parameters" not in log_path.read_text():  # logged before compiling
    assert process.poll() is None and time.monotonic() < deadline, log_path.read_text()[-3000:]
    time.sleep(0.05)
  time.sleep(0.5)
  signalled = time.monotonic()
  process.send_signal(signal.SIGTERM)
  code = process.wait(timeout=60)
  elapsed = time.monotonic() - signalled
  log = log_path.read_text()
  assert code == PREEMPTED_EXIT_CODE, log[-3000:]
  assert elapsed < 5, elapsed
  assert "Compiled the train step" not in log  # it really was compiling
  assert "Preempted (SIGTERM): nothing new to save" in log
