"""DINOv2 weights: the converter's round trip and checksum record, and a clear error for a
missing, unreadable or mismatched file."""

import hashlib
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest
import torch

from an_flax.metrics import convert_dinov2_weights
from an_flax.metrics.dinov2 import ViTConfig
from an_flax.metrics.dinov2_weights import DINOv2WeightsError, load_dinov2_variables
from an_flax.metrics.weights import SOURCE_SHA256_KEY
from benchmarks.pytorch import dinov2 as reference

EXPECTED_FILE = "dinov2_vitl14_pretrain.pth"
TINY = ViTConfig(embed_dim=32, depth=2, num_heads=2, pos_grid=4)
TINY_TORCH = dict(img_size=56, embed_dim=32, depth=2, num_heads=2)


def assert_explains_how_to_get_weights(message: str) -> None:
  assert EXPECTED_FILE in message
  assert "set --dinov2_weights to" in message
  assert "python -m an_flax.metrics.convert_dinov2_weights" in message


@pytest.fixture(scope="module")
def tiny_pth(tmp_path_factory) -> pathlib.Path:
  path = tmp_path_factory.mktemp("weights") / "tiny.pth"
  torch.save(reference.random_model(seed=1, **TINY_TORCH).state_dict(), path)
  return path


def test_round_trip_keeps_every_tensor_and_records_the_checksum(tiny_pth, tmp_path):
  out = tmp_path / "tiny.npz"
  sha256 = convert_dinov2_weights.convert(tiny_pth, out, TINY)
  assert sha256 == hashlib.sha256(tiny_pth.read_bytes()).hexdigest()
  with np.load(out) as f:
    assert str(f[SOURCE_SHA256_KEY]) == sha256
  state = torch.load(tiny_pth)
  params = load_dinov2_variables(out, TINY)["params"]
  np.testing.assert_array_equal(params["blocks_1"]["attn"]["qkv"]["kernel"],
                                state["blocks.1.attn.qkv.weight"].numpy().T)
  np.testing.assert_array_equal(params["patch_embed"]["proj"]["kernel"],
                                state["patch_embed.proj.weight"].numpy().transpose(2, 3, 1, 0))
  np.testing.assert_array_equal(params["blocks_0"]["ls2"]["gamma"], state["blocks.0.ls2.gamma"])
  np.testing.assert_array_equal(params["norm"]["scale"], state["norm.weight"])
  np.testing.assert_array_equal(params["pos_embed"], state["pos_embed"])
  assert "mask_token" not in params


def test_missing_file_names_expected_file_and_path(tmp_path):
  path = tmp_path / "nowhere" / "dinov2_vitl14.npz"
  with pytest.raises(DINOv2WeightsError) as e:
    load_dinov2_variables(path)
  assert os.path.abspath(path) in str(e.value)
  assert_explains_how_to_get_weights(str(e.value))


def test_unset_path_says_which_field_is_unset():
  with pytest.raises(DINOv2WeightsError, match="config.evals.fd.weights unset"):
    load_dinov2_variables(None, field="config.evals.fd.weights")


def test_pth_passed_to_loader_asks_for_conversion(tiny_pth):
  with pytest.raises(DINOv2WeightsError, match="PyTorch file") as e:
    load_dinov2_variables(tiny_pth)
  assert_explains_how_to_get_weights(str(e.value))


def test_npz_of_another_network_is_listed(tiny_pth, tmp_path):
  out = tmp_path / "tiny.npz"
  convert_dinov2_weights.convert(tiny_pth, out, TINY)
  with pytest.raises(DINOv2WeightsError, match="does not match DINOv2 ViT-L/14") as e:
    load_dinov2_variables(out)  # ViT-L/14 expected.
  assert "342 problems" in str(e.value)  # 34 tensors of other shapes, 308 missing.
  assert ("wrong shape params/blocks_0/attn/qkv/kernel: got (32, 96), expected (1024, 3072)"
          in str(e.value))


def test_converter_lists_the_tensors_of_another_size(tmp_path):
  """A wider ViT, as ViT-B/14 is to ViT-L/14."""
  wide = reference.random_model(seed=2, **{**TINY_TORCH, "embed_dim": 48})
  torch.save(wide.state_dict(), tmp_path / "wide.pth")
  out = tmp_path / "wide.npz"
  with pytest.raises(DINOv2WeightsError) as e:
    convert_dinov2_weights.convert(tmp_path / "wide.pth", out, TINY)
  message = str(e.value)
  assert "(34 problems)" in message
  assert "wrong shape blocks.0.attn.qkv.weight: got (144, 48), expected (96, 32)" in message
  assert_explains_how_to_get_weights(message)
  assert not out.exists()


def test_converter_refuses_register_tokens(tiny_pth, tmp_path):
  """A `_reg4` file: its four register tokens have no place in dinov2_vitl14."""
  torch.save(dict(torch.load(tiny_pth), register_tokens=torch.zeros(1, 4, 32)),
             tmp_path / "reg4.pth")
  with pytest.raises(DINOv2WeightsError, match=r"\(1 problems\):\n  unexpected "
                     r"register_tokens \(1, 4, 32\)"):
    convert_dinov2_weights.convert(tmp_path / "reg4.pth", tmp_path / "reg4.npz", TINY)


def test_converter_refuses_a_truncated_download(tiny_pth, tmp_path):
  truncated = tmp_path / EXPECTED_FILE
  truncated.write_bytes(tiny_pth.read_bytes()[:5000])
  with pytest.raises(DINOv2WeightsError, match="truncated or corrupted") as e:
    convert_dinov2_weights.main(["--input", str(truncated), "--output", str(tmp_path / "o.npz")])
  assert_explains_how_to_get_weights(str(e.value))


def test_converter_refuses_a_training_checkpoint(tiny_pth, tmp_path):
  checkpoint = tmp_path / "teacher_checkpoint.pth"
  torch.save({"teacher": torch.load(tiny_pth), "iteration": torch.tensor(1)}, checkpoint)
  with pytest.raises(DINOv2WeightsError, match="not a state dict of tensors"):
    convert_dinov2_weights.main(["--input", str(checkpoint), "--output", str(tmp_path / "o.npz")])


def test_converter_missing_input(tmp_path):
  with pytest.raises(DINOv2WeightsError, match="Input not found") as e:
    convert_dinov2_weights.main(
        ["--input", str(tmp_path / EXPECTED_FILE), "--output", str(tmp_path / "o.npz")])
  assert_explains_how_to_get_weights(str(e.value))


def test_loader_works_without_torch(tiny_pth, tmp_path):
  out = tmp_path / "tiny.npz"
  convert_dinov2_weights.convert(tiny_pth, out, TINY)
  code = ("import sys; sys.modules['torch'] = None\n"  # Any torch import now fails.
          "from an_flax.metrics.dinov2 import ViTConfig\n"
          "from an_flax.metrics.dinov2_weights import load_dinov2_variables\n"
          f"v = load_dinov2_variables({str(out)!r}, ViTConfig(embed_dim=32, depth=2, "
          "num_heads=2, pos_grid=4))\n"
          "assert v['params']['pos_embed'].shape == (1, 17, 32)\n")
  repo_root = str(pathlib.Path(__file__).resolve().parents[2])
  env = {**os.environ, "PYTHONPATH": repo_root, "JAX_PLATFORMS": "cpu"}
  result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
  assert result.returncode == 0, result.stderr
