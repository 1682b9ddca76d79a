"""A short run on the embedded facades: SIGTERM, resume, evaluate, and the fill command."""

import json
import os
import shutil
import signal
import subprocess
import sys

import jax
import numpy as np
import pytest
from PIL import Image

from an_flax.inpainting import evaluation, fill
from an_flax.inpainting.task import InpaintingTask
from an_flax.runtime import preemption, run
from configs.inpainting import inpaint_default
import job_helpers
from training.helpers import FAST_COMPILE_FLAG

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def run_config(data_dir: str):
  config = inpaint_default.get_config()
  config.dataset.data_dir = data_dir
  config.dataset.image_size = 32
  config.dataset.shuffle_buffer = 64
  config.model.width = 4
  config.model.critic_width = 4
  config.batch_size = 8
  config.num_train_steps = 4
  config.checkpoint.every_steps = 2
  config.log_every_steps = 2
  config.picture_every_steps = 4
  config.eval.batch_size = 8
  config.eval.num_examples = 16
  return config


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
  """(config, workdir) of a run stopped by SIGTERM at step 2 and resumed to step 4.

  Also checks that the resumed run ends exactly where an uninterrupted one does.
  """
  root = tmp_path_factory.mktemp("inpainting_run")
  config = run_config(str(root / "tfds"))
  workdir, reference = str(root / "workdir"), str(root / "uninterrupted")
  should_stop = preemption.PreemptionGuard.should_stop

  def signalled_at_step_2(guard, step):
    if step == 2:
      os.kill(os.getpid(), signal.SIGTERM)  # as a preemption would, between two steps
    return should_stop(guard, step)

  with pytest.MonkeyPatch.context() as patch:
    patch.setattr(preemption.PreemptionGuard, "should_stop", signalled_at_step_2)
    with pytest.raises(preemption.Preempted, match="saved a checkpoint of step 2"):
      run.run_training(InpaintingTask(config), workdir)
  assert sorted(os.listdir(os.path.join(workdir, "checkpoints"))) == ["2"]
  resumed = run.run_training(InpaintingTask(config), workdir)
  assert int(np.asarray(resumed.step)) == config.num_train_steps
  straight = run.run_training(InpaintingTask(config), reference)
  jax.tree.map(np.testing.assert_array_equal, jax.device_get(resumed), jax.device_get(straight))
  return config, workdir


def test_sigterm_saves_and_the_rerun_resumes(trained):
  """Checkpoints, before / interruption / after pictures (the state check is in the fixture)."""
  _, workdir = trained
  assert sorted(os.listdir(os.path.join(workdir, "checkpoints"))) == ["2", "4"]
  pictures = sorted(os.listdir(os.path.join(workdir, "pictures")))
  assert pictures == ["step_000000.png", "step_000004.png"]  # none when preempted
  sheet = np.asarray(Image.open(os.path.join(workdir, "pictures", "step_000004.png")))
  assert sheet.shape[0] > 8 * 32 and sheet.shape[1] > 6 * 32  # 8 rows x 6 columns


def test_evaluate_writes_metrics_and_protocol(trained):
  config, workdir = trained
  report = evaluation.evaluate(config, workdir)
  with open(os.path.join(workdir, "eval", "step_000004.json")) as f:
    saved = json.load(f)
  assert saved == json.loads(json.dumps(report))
  assert set(saved["results"]) == {"centered", "free_form"}
  assert saved["protocol"]["num_examples"] == 16
  for scores in saved["results"].values():
    assert 5.0 < scores["psnr"] < 60.0 and -1.0 < scores["ssim"] <= 1.0 and 0 < scores["l1"] < 1
  assert os.path.isfile(os.path.join(workdir, "eval", "step_000004_centered.png"))


def _write(path, array):
  Image.fromarray(array).save(path)
  return str(path)


def test_fill_inpaints_the_hole_only(trained, tmp_path):
  config, workdir = trained
  rng = np.random.default_rng(0)
  image = rng.integers(0, 256, size=(38, 42, 3), dtype=np.uint8)  # not a multiple of 4
  mask = np.zeros((38, 42), np.uint8)
  mask[10:25, 12:30] = 255
  out = fill.fill(config, workdir, _write(tmp_path / "in.png", image),
                             _write(tmp_path / "mask.png", mask), str(tmp_path / "out.png"))
  result = np.asarray(Image.open(out))
  assert result.shape == image.shape and result.dtype == np.uint8
  np.testing.assert_array_equal(result[mask == 0], image[mask == 0])
  assert not np.array_equal(result[mask > 0], image[mask > 0])


def test_fill_errors(trained, tmp_path):
  config, workdir = trained
  image = _write(tmp_path / "in.png", np.zeros((32, 32, 3), np.uint8))
  out = str(tmp_path / "out.png")
  cases = [
      (np.zeros((32, 30), np.uint8), "same size"),
      (np.full((32, 32), 128, np.uint8), "not binary"),
      (np.zeros((32, 32), np.uint8), "no hole"),
  ]
  for mask, message in cases:
    with pytest.raises(fill.FillError, match=message):
      fill.fill(config, workdir, image, _write(tmp_path / "m.png", mask), out)
  (tmp_path / "junk.png").write_bytes(b"not an image")
  with pytest.raises(fill.FillError, match="Cannot read the image"):
    fill.fill(config, workdir, str(tmp_path / "junk.png"), image, out)
  with pytest.raises(fill.FillError, match="does not exist"):
    fill.fill(config, workdir, image, str(tmp_path / "absent.png"), out)
  with pytest.raises(FileNotFoundError, match="No checkpoint"):
    fill.fill(config, str(tmp_path / "empty"), image,
                         _write(tmp_path / "m.png", np.full((32, 32), 255, np.uint8)), out)
  assert not os.path.exists(out)


def test_fill_command_line(trained, tmp_path):
  """`python inpaint.py fill ...` end to end, and its one-line error for a bad mask."""
  config, workdir = trained
  image = _write(tmp_path / "in.png", np.full((32, 32, 3), 90, np.uint8))
  good = np.zeros((32, 32), np.uint8)
  good[8:20, 8:20] = 255
  overrides = [f"--config.{k}={v}" for k, v in (
      ("dataset.image_size", 32), ("model.width", 4), ("model.critic_width", 4),
      ("dataset.data_dir", config.dataset.data_dir))]
  base = [sys.executable, "inpaint.py", "fill", "--config", "configs/inpainting/inpaint_default.py",
          "--workdir", workdir, "--image", image, *overrides]
  env = {**os.environ, "JAX_PLATFORMS": "cpu", "XLA_FLAGS": FAST_COMPILE_FLAG}
  ok = subprocess.run(base + ["--mask", _write(tmp_path / "good.png", good),
                              "--output", str(tmp_path / "out.png")],
                      cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
  assert ok.returncode == 0, ok.stderr[-2000:]
  assert np.asarray(Image.open(tmp_path / "out.png")).shape == (32, 32, 3)
  bad = subprocess.run(base + ["--mask", _write(tmp_path / "bad.png", good // 2),
                               "--output", str(tmp_path / "bad_out.png")],
                       cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
  assert bad.returncode == 1 and "inpaint.py: error: The mask" in bad.stderr
  assert "not binary" in bad.stderr and "Traceback" not in bad.stderr


def test_evaluate_in_two_processes_equals_one(trained, tmp_path):
  """`inpaint.py evaluate` as two processes of one host each: every process takes part in
  the collectives (the picture's gather included), process 0 writes the same scores as one
  process computes. A collective run by process 0 alone aborts both (status 134 on gloo)."""
  config, workdir = trained
  copy = tmp_path / "run"
  shutil.copytree(os.path.join(workdir, "checkpoints"), copy / "checkpoints")
  expected = evaluation.evaluate(config, str(copy))["results"]
  os.remove(copy / "eval" / "step_000004.json")
  overrides = [f"--config.{k}={v}" for k, v in (
      ("dataset.image_size", 32), ("dataset.shuffle_buffer", 64), ("model.width", 4),
      ("model.critic_width", 4), ("batch_size", 8), ("eval.batch_size", 8),
      ("eval.num_examples", 16), ("dataset.data_dir", config.dataset.data_dir))]
  statuses, logs = job_helpers.run_job(
      ["inpaint.py", "evaluate", "--config", "configs/inpainting/inpaint_default.py",
       "--workdir", str(copy), *overrides], REPO)
  assert statuses == [0, 0], logs[0][-3000:] + logs[1][-3000:]
  with open(copy / "eval" / "step_000004.json") as f:
    results = json.load(f)["results"]
  assert results.keys() == expected.keys()
  for kind, scores in expected.items():
    for name, value in scores.items():
      assert results[kind][name] == pytest.approx(value, rel=1e-5), (kind, name)
  assert os.path.isfile(copy / "eval" / "step_000004_centered.png")
