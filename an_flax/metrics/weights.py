"""FID Inception weights: pytorch-fid state-dict names <-> Flax variables, and the `.npz` file.

The only accepted source is pytorch-fid's `pt_inception-2015-12-05-6726825d.pth`. It is
converted once (with torch) by `python -m an_flax.metrics.convert_inception_weights` into an
`.npz` of Flax variables keyed `params/Mixed_5b/branch1x1/conv/kernel`, ...; loading that
file needs only numpy. Nothing is ever downloaded.

`WeightsFormat`, `convert_state_dict` and `read_converted` do the renaming, checking and
reading for any network whose Flax names mirror its PyTorch ones (DINOv2 too).
"""

import dataclasses
import functools
import logging
import os
import zipfile
from collections.abc import Callable, Mapping

import jax
import jax.numpy as jnp
import numpy as np
from flax import traverse_util

from an_flax.metrics.inception import MIN_INPUT_SIZE, FIDInceptionV3

PTH_FILENAME = "pt_inception-2015-12-05-6726825d.pth"
PTH_SHA256_PREFIX = "6726825d"
PTH_URL = ("https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/"
           + PTH_FILENAME)
# Key in the converted .npz recording the sha256 of the .pth it came from.
SOURCE_SHA256_KEY = "source_sha256"
CONVERT_COMMAND = ("python -m an_flax.metrics.convert_inception_weights "
                   f"--input {PTH_FILENAME} --output inception_fid.npz")
WEIGHTS_FIELD = "--inception_weights"  # where the path is given, unless a caller says


def how_to_get(field: str = WEIGHTS_FIELD) -> str:
  """What to download, convert and set (`field` names where the path goes)."""
  return (f"FID/IS need pytorch-fid's port of the 2015-12-05 TF Inception graph, the file "
          f"{PTH_FILENAME} (sha256 starts with {PTH_SHA256_PREFIX}; published at {PTH_URL}). "
          f"Nothing is downloaded automatically. Convert it once with\n  {CONVERT_COMMAND}\n"
          f"and set {field} to the resulting .npz path.")

# (Flax collection, Flax leaf name) -> PyTorch state-dict leaf name.
_LEAF_TO_TORCH = {
    ("params", "kernel"): "weight",
    ("params", "scale"): "weight",
    ("params", "bias"): "bias",
    ("batch_stats", "mean"): "running_mean",
    ("batch_stats", "var"): "running_var",
}
# Flax layout from PyTorch layout: conv OIHW -> HWIO, linear (out, in) -> (in, out).
_TO_FLAX_AXES = {4: (2, 3, 1, 0), 2: (1, 0)}


class InceptionWeightsError(ValueError):
  """The FID Inception weights file is missing, unreadable or does not fit the network."""


@functools.cache
def expected_shapes() -> dict[str, tuple[int, ...]]:
  """Flat Flax variable names ('params/fc/kernel', ...) -> shapes, traced from the module."""
  x = jax.ShapeDtypeStruct((1, MIN_INPUT_SIZE, MIN_INPUT_SIZE, 3), jnp.float32)
  variables = jax.eval_shape(FIDInceptionV3().init, jax.random.key(0), x)
  flat = traverse_util.flatten_dict(variables, sep="/")
  return {k: tuple(v.shape) for k, v in flat.items()}


def torch_name(flax_name: str) -> str:
  """'params/Mixed_5b/branch1x1/conv/kernel' -> 'Mixed_5b.branch1x1.conv.weight'."""
  collection, *path, leaf = flax_name.split("/")
  return ".".join([*path, _LEAF_TO_TORCH[collection, leaf]])


def torch_shape(flax_shape: tuple[int, ...]) -> tuple[int, ...]:
  """PyTorch shape of a Flax-layout tensor: undoes `_TO_FLAX_AXES`."""
  axes = _TO_FLAX_AXES.get(len(flax_shape))
  return flax_shape if axes is None else tuple(flax_shape[i] for i in np.argsort(axes))


@dataclasses.dataclass(frozen=True)
class WeightsFormat:
  """What the converted `.npz` of one network holds, and how a user makes it."""

  network: str  # In messages: "the FID Inception network".
  field: str  # Where the user gives the path, unless a caller says: "--inception_weights".
  how_to_get: Callable[[str], str]  # (field) -> which file, where from, the converter command.
  error: type[ValueError]
  expected_shapes: Callable[[], dict[str, tuple[int, ...]]]  # Flat Flax name -> shape.
  torch_name: Callable[[str], str]  # Flat Flax name -> state-dict key.
  ignored: Callable[[str], bool] = lambda key: False  # State-dict keys inference does not use.


def _mismatch_error(fmt: WeightsFormat, title: str, problems: list[str],
                    field: str | None = None) -> ValueError:
  shown = "\n  ".join(problems[:20])
  more = f"\n  ... and {len(problems) - 20} more" if len(problems) > 20 else ""
  return fmt.error(f"{title} ({len(problems)} problems):\n  {shown}{more}\n"
                   + fmt.how_to_get(field or fmt.field))


def convert_state_dict(fmt: WeightsFormat, state_dict: Mapping[str, np.ndarray]
                       ) -> dict[str, np.ndarray]:
  """Renames and transposes a PyTorch state dict into flat Flax variables (float32).

  Raises `fmt.error` listing every missing, unexpected or mis-shaped tensor.
  """
  given = {k: v for k, v in state_dict.items() if not fmt.ignored(k)}
  problems, flat = [], {}
  for name, shape in fmt.expected_shapes().items():
    key, want = fmt.torch_name(name), torch_shape(shape)
    if key not in given:
      problems.append(f"missing {key} {want}")
      continue
    value = np.asarray(given.pop(key), dtype=np.float32)
    if value.shape != want:
      problems.append(f"wrong shape {key}: got {value.shape}, expected {want}")
      continue
    axes = _TO_FLAX_AXES.get(value.ndim)
    flat[name] = value if axes is None else np.ascontiguousarray(value.transpose(axes))
  problems += [f"unexpected {k} {tuple(np.shape(v))}" for k, v in given.items()]
  if problems:
    raise _mismatch_error(fmt, f"State dict does not match {fmt.network}", problems)
  return flat


def read_converted(fmt: WeightsFormat, path: str | os.PathLike | None,
                   field: str | None = None) -> tuple[dict[str, np.ndarray], str]:
  """The flat variables of a converted `.npz`, checked against the network, and the sha256
  of the `.pth` it was converted from ('' if not recorded).

  Raises `fmt.error` naming the path looked at, `field` (the flag or config field that
  gives it; default `fmt.field`) and `fmt.how_to_get`, so a missing or wrong file is
  fixable from the message alone.
  """
  field = field or fmt.field
  help_text = fmt.how_to_get(field)
  where = os.path.abspath(os.fspath(path)) if path else f"<{field} unset>"
  if not path or not os.path.isfile(path):
    raise fmt.error(f"Weights of {fmt.network} not found: looked for {where!r}.\n"
                    + help_text)
  if os.fspath(path).endswith(".pth"):
    raise fmt.error(
        f"{where!r} is a PyTorch file; the project loads the converted .npz.\n" + help_text)
  try:
    with np.load(path, allow_pickle=False) as f:
      flat = {k: f[k] for k in f.files}
  except (OSError, ValueError, zipfile.BadZipFile) as e:
    raise fmt.error(f"Cannot read {where!r} as .npz: {e}\n" + help_text) from e

  source = str(flat.pop(SOURCE_SHA256_KEY, ""))
  want = fmt.expected_shapes()
  # Wrong shapes first: they tell which network the file holds.
  problems = [f"wrong shape {k}: got {flat[k].shape}, expected {s}"
              for k, s in want.items() if k in flat and flat[k].shape != s]
  problems += [f"missing {k} {s}" for k, s in want.items() if k not in flat]
  problems += [f"unexpected {k}" for k in flat if k not in want]
  if problems:
    raise _mismatch_error(fmt, f"{where!r} does not match {fmt.network}", problems, field)
  return flat, source


INCEPTION = WeightsFormat(
    network="the FID Inception network (pytorch-fid's)",
    field=WEIGHTS_FIELD,
    how_to_get=how_to_get,
    error=InceptionWeightsError,
    expected_shapes=expected_shapes,
    torch_name=torch_name,
    ignored=lambda key: key.endswith(".num_batches_tracked"),  # Added by torch; unused.
)


def flax_from_torch_state_dict(state_dict: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
  """A pytorch-fid state dict as flat Flax variables; see `convert_state_dict`."""
  return convert_state_dict(INCEPTION, state_dict)


def load_inception_variables(path: str | os.PathLike | None, field: str = WEIGHTS_FIELD
                             ) -> dict:
  """Loads the converted `.npz` into Flax variables {'params': ..., 'batch_stats': ...}.

  Raises InceptionWeightsError naming the expected file, the path looked at, `field` (the
  flag or config field that gives the path) and the converter command, so a missing file
  is fixable from the message alone.
  """
  flat, source = read_converted(INCEPTION, path, field)
  if not source.startswith(PTH_SHA256_PREFIX):
    logging.warning("%s was not converted from %s (source sha256 %r): FID/IS values will not "
                    "be comparable with published numbers.", os.path.abspath(path), PTH_FILENAME,
                    source)
  return traverse_util.unflatten_dict(flat, sep="/")
