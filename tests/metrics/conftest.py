"""Fixtures for the metric tests: an independent PyTorch FID Inception with random weights.

The torch network (benchmarks/pytorch/fid_inception.py) is written from pytorch-fid's
`fid_inception_v3` and does not import the project code, so its `state_dict()` has the
real file's key names and shapes and its forward is a reference.
"""

import pytest
import torch

from benchmarks.pytorch.fid_inception import TorchFIDInception, random_model


@pytest.fixture(scope="session")
def torch_reference() -> TorchFIDInception:
  return random_model(seed=0)


@pytest.fixture(scope="session")
def reference_pth(torch_reference, tmp_path_factory) -> str:
  """The random weights saved as a torch state dict, like pytorch-fid's .pth file."""
  path = tmp_path_factory.mktemp("weights") / "random_inception.pth"
  torch.save(torch_reference.state_dict(), path)
  return str(path)
