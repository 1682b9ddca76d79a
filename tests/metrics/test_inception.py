"""The Flax FID Inception, fed weights through the converter, against the torch reference."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from an_flax.metrics import convert_inception_weights
from an_flax.metrics.extract import make_feature_extractor
from an_flax.metrics.inception import MIN_INPUT_SIZE, FIDInceptionV3
from an_flax.metrics.preprocess import inception_input, quantize_to_uint8
from an_flax.metrics.weights import load_inception_variables

# Smallest input whose Mixed_7b/7c maps are larger than 1x1 (2x2), so the max-vs-average
# pool of Mixed_7c and padding exclusion everywhere are exercised; still cheap on CPU.
SIZE = 107


def assert_close(actual, expected, rtol=1e-4):
  """Elementwise within rtol, with an absolute floor of rtol times the largest magnitude."""
  expected = np.asarray(expected)
  np.testing.assert_allclose(actual, expected, rtol=rtol, atol=rtol * np.abs(expected).max())


@pytest.fixture(scope="module")
def variables(reference_pth, tmp_path_factory):
  out = tmp_path_factory.mktemp("converted") / "inception_fid.npz"
  convert_inception_weights.main(
      ["--input", reference_pth, "--output", str(out), "--allow_other_weights"])
  return load_inception_variables(out)


def torch_forward(model, images_nhwc):
  with torch.no_grad():
    pool3, logits = model(torch.from_numpy(np.asarray(images_nhwc)).permute(0, 3, 1, 2))
  return pool3.numpy(), logits.numpy()


def test_reference_has_pytorch_fid_key_layout(torch_reference):
  shapes = {k: tuple(v.shape) for k, v in torch_reference.state_dict().items()}
  assert sum(k.endswith(".conv.weight") for k in shapes) == 94
  assert shapes["Conv2d_1a_3x3.conv.weight"] == (32, 3, 3, 3)
  assert shapes["Mixed_5b.branch_pool.conv.weight"] == (32, 192, 1, 1)
  assert shapes["Mixed_7c.branch3x3dbl_3b.bn.running_var"] == (384,)
  assert shapes["fc.weight"] == (1008, 2048) and shapes["fc.bias"] == (1008,)


def test_converted_network_matches_torch_reference(torch_reference, variables):
  x = np.random.default_rng(1).uniform(-1, 1, (2, SIZE, SIZE, 3)).astype(np.float32)
  pool3_t, logits_t = torch_forward(torch_reference, x)
  assert np.std(pool3_t) > 1e-2 and np.std(logits_t) > 1e-2  # Activations did not vanish.

  pool3, logits = jax.jit(FIDInceptionV3().apply)(variables, jnp.asarray(x))
  assert pool3.shape == (2, 2048) and logits.shape == (2, 1008)
  assert_close(pool3, pool3_t)
  assert_close(logits, logits_t)

  # The IS convention: pool3 @ W without the fc bias.
  _, logits_nobias = jax.jit(FIDInceptionV3(logits_with_bias=False).apply)(variables, x)
  assert_close(logits_nobias, pool3_t @ torch_reference.state_dict()["fc.weight"].numpy().T)


def test_extractor_matches_pytorch_fid_pipeline(torch_reference, variables):
  """uint8 images -> /255 -> F.interpolate(bilinear, align_corners=False) -> 2x-1 -> net."""
  images = np.random.default_rng(2).integers(0, 256, (2, 40, 52, 3), dtype=np.uint8)
  x = torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255
  x = 2 * F.interpolate(x, size=(SIZE, SIZE), mode="bilinear", align_corners=False) - 1
  pool3_t, logits_t = torch_forward(torch_reference, x.permute(0, 2, 3, 1))

  pool3, logits = make_feature_extractor(variables, image_size=SIZE,
                                         logits_with_bias=True)(images)
  assert_close(pool3, pool3_t)
  assert_close(logits, logits_t)


def test_sharded_extraction_equals_single_device(variables):
  assert jax.device_count() == 8
  images = np.random.default_rng(3).uniform(-1.1, 1.1, (11, 32, 32, 3)).astype(np.float32)
  pool3, logits = make_feature_extractor(variables, image_size=MIN_INPUT_SIZE)(images)

  device = jax.devices()[0]
  single = jax.device_put((variables, images), device)

  @jax.jit
  def single_device(variables, images):
    x = inception_input(quantize_to_uint8(images), MIN_INPUT_SIZE)
    return FIDInceptionV3(logits_with_bias=False).apply(variables, x)

  pool3_1, logits_1 = single_device(*single)
  assert pool3.shape == (11, 2048) and logits.shape == (11, 1008)
  assert_close(pool3, pool3_1, rtol=1e-5)
  assert_close(logits, logits_1, rtol=1e-5)
