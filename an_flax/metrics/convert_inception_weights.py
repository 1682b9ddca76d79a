r"""Converts pytorch-fid's Inception weights into the `.npz` the project loads without torch.

  python -m an_flax.metrics.convert_inception_weights \
      --input pt_inception-2015-12-05-6726825d.pth --output inception_fid.npz

torch is needed only here, to unpickle the `.pth` (legacy and zip formats alike). The input's
sha256 must start with 6726825d (torch hub names the file after it); `--allow_other_weights`
skips that check, e.g. for tests with random weights. The `.npz` records the sha256 so the
loader can warn when FID is computed with anything else.
"""

import argparse
import hashlib
import os
import pickle
from collections.abc import Mapping, Sequence

import numpy as np

from an_flax.metrics import weights


def sha256_of(path: str | os.PathLike) -> str:
  digest = hashlib.sha256()
  with open(path, "rb") as f:
    for chunk in iter(lambda: f.read(1 << 20), b""):
      digest.update(chunk)
  return digest.hexdigest()


def read_torch_state_dict(path: str | os.PathLike) -> dict[str, np.ndarray]:
  """The tensors of a `.pth` state dict; ValueError for a file that is not one (a truncated
  download, a training checkpoint nesting its state dicts)."""
  import torch  # pylint: disable=g-import-not-at-top  # Optional: only the converter needs it.

  try:
    state_dict = torch.load(path, map_location="cpu", weights_only=True)
  except (pickle.UnpicklingError, RuntimeError, EOFError, OSError) as e:
    raise ValueError(f"torch.load cannot read {os.path.abspath(path)!r} (a truncated or "
                     f"corrupted download?): {e}") from e
  if not isinstance(state_dict, Mapping) or not all(
      isinstance(v, torch.Tensor) for v in state_dict.values()):
    raise ValueError(f"{os.path.abspath(path)!r} is not a state dict of tensors (a training "
                     "checkpoint?); pass the released weights file.")
  return {k: v.detach().numpy() for k, v in state_dict.items()}


def convert(input_path: str | os.PathLike, output_path: str | os.PathLike,
            allow_other_weights: bool = False) -> None:
  """Reads the .pth, checks checksum, names and shapes, and writes the Flax `.npz`."""
  if not os.path.isfile(input_path):
    raise weights.InceptionWeightsError(
        f"Input not found: {os.path.abspath(input_path)!r}.\n"
        + weights.how_to_get(weights.WEIGHTS_FIELD))
  sha256 = sha256_of(input_path)
  if not (allow_other_weights or sha256.startswith(weights.PTH_SHA256_PREFIX)):
    raise weights.InceptionWeightsError(
        f"{os.path.abspath(input_path)!r} has sha256 {sha256}, not {weights.PTH_FILENAME}'s "
        f"({weights.PTH_SHA256_PREFIX}...). Pass --allow_other_weights to convert it anyway.\n"
        + weights.how_to_get(weights.WEIGHTS_FIELD))
  flat = weights.flax_from_torch_state_dict(read_torch_state_dict(input_path))
  # np.savez would append '.npz' to a name without it; write through a file object instead.
  with open(output_path, "wb") as f:
    np.savez(f, **flat, **{weights.SOURCE_SHA256_KEY: np.array(sha256)})


def main(argv: Sequence[str] | None = None) -> None:
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--input", required=True, help=f"path to {weights.PTH_FILENAME}")
  parser.add_argument("--output", required=True, help="path of the .npz to write")
  parser.add_argument("--allow_other_weights", action="store_true",
                      help="convert a file whose sha256 does not start with "
                      f"{weights.PTH_SHA256_PREFIX} (its FID is not comparable)")
  args = parser.parse_args(argv)
  convert(args.input, args.output, args.allow_other_weights)
  print(f"Wrote {args.output}; set config.evals.<name>.inception_weights={args.output!r} "
        "(or the FID CLI's --inception_weights)")


if __name__ == "__main__":
  main()
