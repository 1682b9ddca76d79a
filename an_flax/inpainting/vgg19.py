"""VGG19 features for the ID-MRF loss, from a weights file the user provides.

Nothing is downloaded. The expected file is an `.npz` holding torchvision's
`vgg19` state dict entries for the convolutions up to conv4_2, under their
PyTorch names and layouts:

  features.{0,2,5,7,10,12,14,16,19,21}.weight  (out, in, 3, 3) float32
  features.{0,2,5,7,10,12,14,16,19,21}.bias    (out,)

Convert once, where torchvision and its weights are available:

  import numpy as np, torchvision
  sd = torchvision.models.vgg19(weights="IMAGENET1K_V1").state_dict()
  np.savez("vgg19.npz", **{k: v.numpy() for k, v in sd.items() if k.startswith("features.")})

Extra keys are ignored. Preprocessing is torchvision's: [-1, 1] -> [0, 1] ->
ImageNet mean/std; max pooling as torchvision (the released TF code uses the
MatConvNet VGG19 with average pooling and mean-only preprocessing).
"""

import os
from typing import Dict, Mapping, Tuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

# (name, torchvision index, output channels) up to relu4_2; 0 channels = 2x2 max pool.
_LAYERS: Tuple[Tuple[str, int, int], ...] = (
    ("relu1_1", 0, 64), ("relu1_2", 2, 64), ("pool1", 4, 0),
    ("relu2_1", 5, 128), ("relu2_2", 7, 128), ("pool2", 9, 0),
    ("relu3_1", 10, 256), ("relu3_2", 12, 256), ("relu3_3", 14, 256), ("relu3_4", 16, 256),
    ("pool3", 18, 0),
    ("relu4_1", 19, 512), ("relu4_2", 21, 512),
)
CONV_INDICES: Tuple[int, ...] = tuple(index for _, index, ch in _LAYERS if ch)
_MEAN = np.array([0.485, 0.456, 0.406], np.float32)
_STD = np.array([0.229, 0.224, 0.225], np.float32)


class VGG19Features(nn.Module):
  """torchvision VGG19 `features` up to relu4_2; returns {relu name: (N, H, W, C)}.

  Parameters are named `features_<index>` after the torchvision module index.
  """

  @nn.compact
  def __call__(self, images: jax.Array) -> Dict[str, jax.Array]:
    x = ((images + 1.0) / 2.0 - _MEAN) / _STD
    outputs = {}
    for name, index, channels in _LAYERS:
      if channels:
        x = nn.relu(nn.Conv(channels, (3, 3), padding=1, name=f"features_{index}")(x))
        outputs[name] = x
      else:
        x = nn.max_pool(x, (2, 2), strides=(2, 2))
    return outputs


def params_from_state_dict(state_dict: Mapping[str, np.ndarray]) -> Dict[str, Dict[str, jax.Array]]:
  """torchvision-layout arrays -> `VGG19Features` params (OIHW -> HWIO)."""
  params = {}
  for index in CONV_INDICES:
    weight, bias = (f"features.{index}.weight", f"features.{index}.bias")
    missing = [key for key in (weight, bias) if key not in state_dict]
    if missing:
      raise KeyError(f"VGG19 weights lack {missing}; expected torchvision `vgg19` state dict "
                     f"keys features.{{{','.join(map(str, CONV_INDICES))}}}.{{weight,bias}}.")
    params[f"features_{index}"] = {
        "kernel": jnp.asarray(np.transpose(state_dict[weight], (2, 3, 1, 0)), jnp.float32),
        "bias": jnp.asarray(state_dict[bias], jnp.float32),
    }
  return {"params": params}


def load_vgg19(path: str, field: str = "config.loss.vgg19_weights"):
  """Loads the user's VGG19 `.npz`; a clear error names the config field if absent."""
  if not path or not os.path.isfile(path):
    raise FileNotFoundError(
        f"The ID-MRF loss needs VGG19 weights: set {field} to an .npz file of torchvision's "
        f"vgg19 state dict (keys features.<i>.weight/bias, see an_flax/inpainting/"
        f"vgg19.py for the one-line conversion); got {path!r}, which does not "
        "exist. Nothing is downloaded. Or set config.loss.id_mrf_weight = 0.")
  with np.load(path) as data:
    return params_from_state_dict(dict(data))
