"""The three command lines turn a user's mistakes into one message and a non-zero exit,
without a traceback (unless --traceback), and create nothing while refusing."""

import os
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT = "--config=configs/default.py"
INPAINT = "--config=configs/inpainting/inpaint_default.py"


def _run(*args: str) -> subprocess.CompletedProcess:
  return subprocess.run([sys.executable, *args], cwd=REPO, capture_output=True, text=True,
                        timeout=300, env={**os.environ, "JAX_PLATFORMS": "cpu"})


def _errors(result: subprocess.CompletedProcess) -> list[str]:
  return [line for line in result.stderr.splitlines() if ": error: " in line]


CASES = {
    "unknown field on the command line": (
        lambda tmp: ["train.py", DEFAULT, f"--workdir={tmp / 'run'}",
                     "--config.optim.g_learning_rate=1e-4"], 2,
        "train.py: error: --config.optim.g_learning_rate: the config has no field "
        "'g_learning_rate'"),
    "config file that does not exist": (
        lambda tmp: ["train.py", "--config=configs/nope.py", f"--workdir={tmp / 'run'}"], 1,
        "train.py: error: the config file configs/nope.py does not exist."),
    "workdir that is a file": (
        lambda tmp: ["train.py", DEFAULT, f"--workdir={tmp / 'afile'}"], 1,
        "is a file, not a directory"),
    "ImageNet tars missing": (
        lambda tmp: ["train.py", "--config=configs/imagenet128_an.py", f"--workdir={tmp / 'run'}",
                     f"--config.dataset.data_dir={tmp / 'run' / 'tfds'}",
                     "--config.dataset.prepared="], 1,
        "ILSVRC2012_img_train.tar"),
    "ImageNet not prepared": (
        lambda tmp: ["train.py", "--config=configs/imagenet128_an.py", f"--workdir={tmp / 'run'}",
                     f"--config.dataset.data_dir={tmp / 'tfds'}"], 1,
        "holds no prepared split. Prepare it once with `python -m an_flax.data.prepare "
        "--config=configs/imagenet128_an.py --config.dataset.data_dir="),
    "a class count that is not the dataset's": (
        lambda tmp: ["train.py", DEFAULT, f"--workdir={tmp / 'run'}",
                     "--config.model.num_classes=7", "--config.evals.shapes.every_steps=0"], 1,
        "config.model.num_classes: 7 differs from the 10 classes of dataset 'symmetric_shapes'"),
    "eval of a workdir without checkpoints": (
        lambda tmp: ["eval.py", DEFAULT, f"--workdir={tmp / 'run'}", "--mode=samples"], 1,
        "eval.py: error: No checkpoints in"),
    "fill --output that is a directory": (
        lambda tmp: ["inpaint.py", "fill", INPAINT, f"--workdir={tmp / 'run'}",
                     "--image=a.png", "--mask=m.png", f"--output={tmp}"], 1,
        "is a directory: give the file to write"),
}


@pytest.mark.parametrize("case", CASES)
def test_a_mistake_is_one_message_and_a_non_zero_exit(case, tmp_path):
  args, code, message = CASES[case]
  (tmp_path / "afile").write_text("")
  result = _run(*args(tmp_path))
  assert result.returncode == code, result.stderr[-3000:]
  errors = _errors(result)
  assert len(errors) == 1 and message in errors[0], result.stderr[-3000:]
  assert "Traceback" not in result.stderr
  assert sorted(os.listdir(tmp_path)) == ["afile"]  # nothing created, not even the workdir


def test_traceback_flag_shows_where_the_error_came_from(tmp_path):
  (tmp_path / "afile").write_text("")
  result = _run("train.py", DEFAULT, f"--workdir={tmp_path / 'afile'}", "--traceback")
  assert result.returncode != 0
  assert "Traceback (most recent call last)" in result.stderr
  assert "WorkdirError" in result.stderr
