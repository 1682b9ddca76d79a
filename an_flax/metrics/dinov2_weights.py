"""DINOv2 ViT-L/14 weights: the released state-dict names <-> Flax variables, and the `.npz`.

The source is DINOv2's backbone file `dinov2_vitl14_pretrain.pth` (what
`torch.hub.load('facebookresearch/dinov2', 'dinov2_vitl14')` fetches). It is converted once
(with torch) by `python -m an_flax.metrics.convert_dinov2_weights` into an `.npz` of Flax
variables keyed `params/blocks_0/attn/qkv/kernel`, ...; loading that file needs only numpy.
Nothing is ever downloaded. DINOv2 publishes no checksum of the file, so none is enforced:
the `.npz` records the sha256 of the `.pth` it came from (`weights.SOURCE_SHA256_KEY`), for
results to cite, and the names and shapes of all 24 blocks are checked.
"""

import functools
import os

import jax
import jax.numpy as jnp
from flax import traverse_util

from an_flax.metrics.dinov2 import VIT_L14, DinoVisionTransformer, ViTConfig
from an_flax.metrics.weights import WeightsFormat, read_converted

PTH_FILENAME = "dinov2_vitl14_pretrain.pth"
PTH_URL = f"https://dl.fbaipublicfiles.com/dinov2/dinov2_vitl14/{PTH_FILENAME}"
WEIGHTS_FIELD = "--dinov2_weights"  # where the path is given, unless a caller says
CONVERT_COMMAND = ("python -m an_flax.metrics.convert_dinov2_weights "
                   f"--input {PTH_FILENAME} --output dinov2_vitl14.npz")


def how_to_get(field: str = WEIGHTS_FIELD) -> str:
  """What to get, convert and set (`field` names where the path goes)."""
  return (f"FD_DINOv2 needs DINOv2's ViT-L/14 backbone, the file {PTH_FILENAME} (what "
          "torch.hub.load('facebookresearch/dinov2', 'dinov2_vitl14') fetches into "
          f"~/.cache/torch/hub/checkpoints/; published at {PTH_URL}). Nothing is downloaded "
          f"automatically. Convert it once with\n  {CONVERT_COMMAND}\n"
          f"and set {field} to the resulting .npz path.")


class DINOv2WeightsError(ValueError):
  """The DINOv2 weights file is missing, unreadable or does not fit ViT-L/14."""


@functools.cache
def expected_shapes(config: ViTConfig = VIT_L14) -> dict[str, tuple[int, ...]]:
  """Flat Flax variable names ('params/norm/scale', ...) -> shapes, traced from the module."""
  x = jax.ShapeDtypeStruct((1, config.patch_size, config.patch_size, 3), jnp.float32)
  variables = jax.eval_shape(DinoVisionTransformer(config).init, jax.random.key(0), x)
  return {k: tuple(v.shape) for k, v in traverse_util.flatten_dict(variables, sep="/").items()}


def torch_name(flax_name: str) -> str:
  """'params/blocks_3/attn/qkv/kernel' -> 'blocks.3.attn.qkv.weight'; 'params/cls_token' ->
  'cls_token'."""
  _, *path, leaf = flax_name.split("/")
  path = [part.replace("blocks_", "blocks.") for part in path]
  return ".".join([*path, {"kernel": "weight", "scale": "weight"}.get(leaf, leaf)])


def weights_format(config: ViTConfig = VIT_L14) -> WeightsFormat:
  """The converted file of `config`'s network (other than ViT-L/14: for tests only)."""
  return WeightsFormat(
      network=("DINOv2 ViT-L/14 (dinov2_vitl14, no registers)" if config == VIT_L14
               else f"the DINOv2 ViT {config}"),
      field=WEIGHTS_FIELD,
      how_to_get=how_to_get,
      error=DINOv2WeightsError,
      expected_shapes=functools.partial(expected_shapes, config),
      torch_name=torch_name,
      ignored=lambda key: key == "mask_token",  # Masked-image training only.
  )


def load_dinov2_variables(path: str | os.PathLike | None, config: ViTConfig = VIT_L14,
                          field: str = WEIGHTS_FIELD) -> dict:
  """Loads the converted `.npz` into Flax variables {'params': ...} of ViT-L/14.

  Raises DINOv2WeightsError naming the expected file, the path looked at, `field` (the flag
  or config field that gives the path) and the converter command.
  """
  flat, _ = read_converted(weights_format(config), path, field)
  return traverse_util.unflatten_dict(flat, sep="/")
