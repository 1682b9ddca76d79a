"""VGG19 features from a torchvision-layout weights file, against a PyTorch forward."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch

from an_flax.inpainting import losses, vgg19


def _torchvision_like_vgg19_features():
  """torchvision's vgg19().features up to relu4_2 (indices 0..22), random weights."""
  layers, channels = [], 3
  for spec in (64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512):
    if spec == "M":
      layers.append(torch.nn.MaxPool2d(2, 2))
    else:
      layers += [torch.nn.Conv2d(channels, spec, 3, padding=1), torch.nn.ReLU()]
      channels = spec
  model = torch.nn.Module()
  model.features = torch.nn.Sequential(*layers)
  return model


def test_features_match_pytorch_and_feed_id_mrf(tmp_path):
  torch.manual_seed(0)
  model = _torchvision_like_vgg19_features().eval()
  path = tmp_path / "vgg19.npz"
  np.savez(path, **{k: v.numpy() for k, v in model.state_dict().items()})
  variables = vgg19.load_vgg19(str(path))

  images = np.random.default_rng(0).uniform(-1, 1, size=(2, 32, 32, 3)).astype(np.float32)
  features = jax.jit(vgg19.VGG19Features().apply)(variables, jnp.asarray(images))
  x = (torch.from_numpy(images).permute(0, 3, 1, 2) + 1) / 2
  x = (x - torch.tensor([0.485, 0.456, 0.406])[:, None, None]) / torch.tensor([0.229, 0.224, 0.225])[:, None, None]
  with torch.no_grad():
    outputs = {}
    for index, layer in enumerate(model.features):
      x = layer(x)
      outputs[index] = x.permute(0, 2, 3, 1).numpy()
  for name, index in (("relu3_2", 13), ("relu4_2", 22)):
    scale = np.abs(outputs[index]).max()
    np.testing.assert_allclose(np.asarray(features[name]), outputs[index], atol=1e-4 * scale)
  loss = losses.id_mrf_loss(features, features)
  assert float(loss) < 1e-2


def test_missing_weights_name_the_config_field(tmp_path):
  with pytest.raises(FileNotFoundError, match=r"config\.loss\.vgg19_weights.*torchvision"):
    vgg19.load_vgg19(str(tmp_path / "absent.npz"))
  np.savez(tmp_path / "partial.npz", **{"features.0.weight": np.zeros((64, 3, 3, 3))})
  with pytest.raises(KeyError, match="features.0.bias"):
    vgg19.load_vgg19(str(tmp_path / "partial.npz"))
