"""Clear errors for a missing, unconverted, unverified or mismatched weights file."""

import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

from an_flax.metrics import convert_inception_weights
from an_flax.metrics.weights import (
    InceptionWeightsError,
    expected_shapes,
    flax_from_torch_state_dict,
    load_inception_variables,
)

EXPECTED_FILE = "pt_inception-2015-12-05-6726825d.pth"


def assert_explains_how_to_get_weights(message: str, field: str = "--inception_weights"
                                       ) -> None:
  assert EXPECTED_FILE in message
  assert f"set {field} to" in message
  assert "python -m an_flax.metrics.convert_inception_weights" in message


def test_missing_file_names_expected_file_and_path(tmp_path):
  path = tmp_path / "nowhere" / "inception_fid.npz"
  with pytest.raises(InceptionWeightsError) as e:
    load_inception_variables(path, "config.evals.fid.inception_weights")
  assert os.path.abspath(path) in str(e.value)
  assert_explains_how_to_get_weights(str(e.value), "config.evals.fid.inception_weights")


def test_unset_path_says_which_field_is_unset():
  with pytest.raises(InceptionWeightsError, match="config.evals.fid.inception_weights unset"):
    load_inception_variables(None, "config.evals.fid.inception_weights")


def test_pth_passed_to_loader_asks_for_conversion(tmp_path):
  path = tmp_path / EXPECTED_FILE
  path.write_bytes(b"not really")
  with pytest.raises(InceptionWeightsError, match="PyTorch file") as e:
    load_inception_variables(path)
  assert_explains_how_to_get_weights(str(e.value))


def test_unreadable_npz(tmp_path):
  path = tmp_path / "inception_fid.npz"
  path.write_bytes(b"garbage")
  with pytest.raises(InceptionWeightsError, match="Cannot read"):
    load_inception_variables(path)


def test_wrong_keys_and_shapes_are_listed(tmp_path):
  arrays = {k: np.zeros(s, np.float32) for k, s in expected_shapes().items()}
  arrays["params/fc/kernel"] = np.zeros((2048, 1000), np.float32)
  del arrays["batch_stats/Mixed_6a/branch3x3/bn/var"]
  arrays["params/aux_logits/kernel"] = np.zeros(3, np.float32)
  path = tmp_path / "bad.npz"
  np.savez(path, **arrays)
  with pytest.raises(InceptionWeightsError) as e:
    load_inception_variables(path)
  message = str(e.value)
  assert "3 problems" in message
  assert "wrong shape params/fc/kernel: got (2048, 1000), expected (2048, 1008)" in message
  assert "missing batch_stats/Mixed_6a/branch3x3/bn/var" in message
  assert "unexpected params/aux_logits/kernel" in message


def test_converter_lists_state_dict_mismatches(torch_reference):
  state = {k: v.numpy() for k, v in torch_reference.state_dict().items()}
  state["Mixed_5b.branch1x1.conv.weight"] = np.zeros((64, 192, 3, 3), np.float32)
  del state["fc.bias"]
  state["AuxLogits.fc.weight"] = np.zeros((1000, 768), np.float32)
  with pytest.raises(InceptionWeightsError) as e:
    flax_from_torch_state_dict(state)
  message = str(e.value)
  assert ("wrong shape Mixed_5b.branch1x1.conv.weight: got (64, 192, 3, 3), "
          "expected (64, 192, 1, 1)") in message
  assert "missing fc.bias (1008,)" in message
  assert "unexpected AuxLogits.fc.weight" in message


def test_converter_refuses_unverified_checksum(reference_pth, tmp_path):
  out = tmp_path / "out.npz"
  with pytest.raises(InceptionWeightsError, match="6726825d") as e:
    convert_inception_weights.main(["--input", reference_pth, "--output", str(out)])
  assert "--allow_other_weights" in str(e.value)
  assert not out.exists()


def test_converter_missing_input(tmp_path):
  with pytest.raises(InceptionWeightsError, match=EXPECTED_FILE):
    convert_inception_weights.main(
        ["--input", str(tmp_path / EXPECTED_FILE), "--output", str(tmp_path / "o.npz")])


def test_loader_works_without_torch(tmp_path):
  arrays = {k: np.zeros(s, np.float32) for k, s in expected_shapes().items()}
  path = tmp_path / "inception_fid.npz"
  np.savez(path, **arrays, source_sha256=np.array("6726825d" + "0" * 56))
  code = ("import sys; sys.modules['torch'] = None\n"  # Any torch import now fails.
          "from an_flax.metrics import load_inception_variables\n"
          f"v = load_inception_variables({str(path)!r})\n"
          "assert sorted(v) == ['batch_stats', 'params'], sorted(v)\n"
          "assert v['params']['fc']['kernel'].shape == (2048, 1008)\n")
  repo_root = str(pathlib.Path(__file__).resolve().parents[2])
  env = {**os.environ, "PYTHONPATH": repo_root, "JAX_PLATFORMS": "cpu"}
  result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
  assert result.returncode == 0, result.stderr
  assert "not converted from" not in result.stderr  # Checksum recorded: no warning.
