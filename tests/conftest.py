"""Test-wide setup: eight virtual CPU devices, so sharding is exercised everywhere."""

import os

# Must run before jax is imported anywhere in the test session.
os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=8")
os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


import numpy as np  # noqa: E402  (after the environment is set)
import pytest  # noqa: E402


@pytest.fixture(scope="session")
def inception_weights(tmp_path_factory) -> str:
  """Random pytorch-fid-layout weights saved as a .pth and converted by the CLI's main."""
  import torch
  from an_flax.metrics import convert_inception_weights
  from metrics.conftest import TorchFIDInception, _random_state_dict
  folder = tmp_path_factory.mktemp("inception")
  state = _random_state_dict(TorchFIDInception(), np.random.default_rng(0))
  torch.save({k: torch.from_numpy(v) for k, v in state.items()}, folder / "random.pth")
  output = str(folder / "inception_fid.npz")
  convert_inception_weights.main(["--input", str(folder / "random.pth"), "--output", output,
                                  "--allow_other_weights"])
  return output
