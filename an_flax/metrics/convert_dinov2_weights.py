r"""Converts DINOv2's ViT-L/14 weights into the `.npz` the project loads without torch.

  python -m an_flax.metrics.convert_dinov2_weights \
      --input dinov2_vitl14_pretrain.pth --output dinov2_vitl14.npz

torch is needed only here, to unpickle the `.pth`. Every tensor's name and shape must be
those of `dinov2_vitl14` (the training-only `mask_token` is dropped); another DINOv2 size, a
register (`_reg4`) variant or a training checkpoint is refused, listing what differs. The
`.npz` records the input's sha256, which is printed, for results to cite.
"""

import argparse
import os
from collections.abc import Sequence

import numpy as np

from an_flax.metrics import dinov2_weights
from an_flax.metrics.convert_inception_weights import read_torch_state_dict, sha256_of
from an_flax.metrics.dinov2 import VIT_L14, ViTConfig
from an_flax.metrics.weights import SOURCE_SHA256_KEY, convert_state_dict


def convert(input_path: str | os.PathLike, output_path: str | os.PathLike,
            config: ViTConfig = VIT_L14) -> str:
  """Reads the `.pth`, checks names and shapes, writes the Flax `.npz`; returns its sha256.

  `config` other than ViT-L/14 is for tests only.
  """
  if not os.path.isfile(input_path):
    raise dinov2_weights.DINOv2WeightsError(
        f"Input not found: {os.path.abspath(input_path)!r}.\n" + dinov2_weights.how_to_get())
  try:
    state_dict = read_torch_state_dict(input_path)
  except ValueError as e:
    raise dinov2_weights.DINOv2WeightsError(f"{e}\n" + dinov2_weights.how_to_get()) from e
  flat = convert_state_dict(dinov2_weights.weights_format(config), state_dict)
  sha256 = sha256_of(input_path)
  # np.savez would append '.npz' to a name without it; write through a file object instead.
  with open(output_path, "wb") as f:
    np.savez(f, **flat, **{SOURCE_SHA256_KEY: np.array(sha256)})
  return sha256


def main(argv: Sequence[str] | None = None) -> None:
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--input", required=True, help=f"path to {dinov2_weights.PTH_FILENAME}")
  parser.add_argument("--output", required=True, help="path of the .npz to write")
  args = parser.parse_args(argv)
  sha256 = convert(args.input, args.output)
  print(f"Wrote {args.output} (from {args.input}, sha256 {sha256}); set "
        f"{dinov2_weights.CONFIG_FIELD}={args.output!r}")


if __name__ == "__main__":
  main()
