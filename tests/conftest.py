"""Test-wide setup: eight virtual CPU devices, so sharding is exercised everywhere."""

import atexit
import os
import shutil
import tempfile
import types

# Must run before jax is imported anywhere in the test session. LLVM at -O0
# (training/helpers.FAST_COMPILE_FLAG): most tests' time is compiling, which -O0 roughly
# halves; the runs long enough for step time to count (test_learning.py) keep -O2.
os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=8 "
                      "--xla_backend_optimization_level=0")
os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# A persistent XLA cache for the session (programs that take over a second to
# compile): the tests that rebuild the same programs, such as a training run and
# its resumption in one process, compile each of them once.
from an_flax.runtime import xla_cpu  # noqa: E402  (imports no JAX)
xla_cpu.use()  # the XLA:CPU options the command lines run with
if "JAX_COMPILATION_CACHE_DIR" not in os.environ:
  os.environ["JAX_COMPILATION_CACHE_DIR"] = tempfile.mkdtemp(prefix="an_flax_xla_cache_")
  atexit.register(shutil.rmtree, os.environ["JAX_COMPILATION_CACHE_DIR"], ignore_errors=True)


import pytest  # noqa: E402  (after the environment is set)


@pytest.fixture(scope="session")
def inception_weights(tmp_path_factory) -> str:
  """Random pytorch-fid-layout weights saved as a .pth and converted by the CLI's main."""
  import torch
  from an_flax.metrics import convert_inception_weights
  from benchmarks.pytorch.fid_inception import random_model
  folder = tmp_path_factory.mktemp("inception")
  torch.save(random_model(seed=0).state_dict(), folder / "random.pth")
  output = str(folder / "inception_fid.npz")
  convert_inception_weights.main(["--input", str(folder / "random.pth"), "--output", output,
                                  "--allow_other_weights"])
  return output


@pytest.fixture(scope="session")
def tiny_dinov2(tmp_path_factory) -> types.SimpleNamespace:
  """A tiny DINOv2 ViT (embed 32, depth 2, 2 heads, a 4x4 position grid: input 56x56) with
  random torch weights (`torch_model`), converted by the converter (`weights`, an .npz);
  `config` and `image_size` build the same network in Flax."""
  import torch
  from an_flax.metrics import convert_dinov2_weights
  from an_flax.metrics.dinov2 import ViTConfig
  from benchmarks.pytorch import dinov2
  config = ViTConfig(embed_dim=32, depth=2, num_heads=2, pos_grid=4)
  torch_model = dinov2.random_model(seed=0, img_size=56, embed_dim=32, depth=2, num_heads=2)
  folder = tmp_path_factory.mktemp("dinov2")
  torch.save(torch_model.state_dict(), folder / "tiny.pth")
  weights = str(folder / "tiny.npz")
  convert_dinov2_weights.convert(folder / "tiny.pth", weights, config)
  return types.SimpleNamespace(torch_model=torch_model, weights=weights, config=config,
                               image_size=56)


# The files that take a minute or more, longest first. Run first (pytest.ini turns off
# xdist's ordering by test count, which would run these few-test files last), they leave
# the many short files to even out the workers at the end.
LONG_FILES = (
    "training/test_runs.py", "training/test_step.py", "training/test_learning.py",
    "benchmarks/test_benchmarks.py", "training/test_faults.py",
    "training/test_bucket_workdir.py", "inpainting/test_inpainting_run.py",
    "convert/test_biggan_command.py", "training/test_biggan_step.py",
    "evaluation/test_eval_main.py", "inpainting/test_inpainting_training.py",
    "benchmarks/test_biggan_cost.py", "training/test_recipe_resume.py",
    "data/test_imagenet.py",
)


def pytest_collection_modifyitems(items) -> None:
  def rank(item) -> int:
    path = item.nodeid.split("::")[0].removeprefix("tests/")
    return LONG_FILES.index(path) if path in LONG_FILES else len(LONG_FILES)
  items.sort(key=rank)  # stable: each file's tests keep their order


def pytest_addoption(parser) -> None:
  parser.addoption("--learning_seeds", default="0",
                   help="Seeds of tests/training/test_learning.py (its calibration: 0,1,2).")


def pytest_generate_tests(metafunc) -> None:
  if "learning_seed" in metafunc.fixturenames:
    seeds = [int(s) for s in metafunc.config.getoption("learning_seeds").split(",")]
    metafunc.parametrize("learning_seed", seeds)
