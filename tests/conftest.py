"""Test-wide setup: eight virtual CPU devices, so sharding is exercised everywhere."""

import atexit
import os
import shutil
import tempfile

# Must run before jax is imported anywhere in the test session.
os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=8")
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


def pytest_addoption(parser) -> None:
  parser.addoption("--learning_seeds", default="0",
                   help="Seeds of tests/training/test_learning.py (its calibration: 0,1,2).")


def pytest_generate_tests(metafunc) -> None:
  if "learning_seed" in metafunc.fixturenames:
    seeds = [int(s) for s in metafunc.config.getoption("learning_seeds").split(",")]
    metafunc.parametrize("learning_seed", seeds)
