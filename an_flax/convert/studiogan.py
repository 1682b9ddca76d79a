r"""PyTorch-StudioGAN's SNGAN / SAGAN checkpoints as this project's models and train state.

Library:
  load_generator(path, config) -> (generator, variables): `generator.apply(variables, z,
      labels, train=False)` draws the images StudioGAN's G draws (eval mode) for z, labels.
  load_discriminator(path, config) -> (discriminator, variables), likewise for D's logits.
  generator_variables / discriminator_variables(checkpoint, network, ...): the same for a
      network built otherwise (StudioGAN's BigGAN, `an_flax.convert.biggan`).
Command line (an Orbax checkpoint that `eval.py` and `train.py` read):
  python -m an_flax.convert.studiogan --checkpoint='model=G_ema-best-weights-step=N.pth' \
      --config=configs/studiogan/imagenet128_sngan.py --workdir=DIR [--discriminator=D.pth]

`config` must build StudioGAN's layers (a configs/studiogan config: torch's spectral norm,
BatchNorm eps 1e-4, gamma = 1 + W_gain y, D's shortcuts from ReLU(x)); the file cannot
tell, so other layer fields are refused. The file is what StudioGAN's `torch.save` wrote, a
dict with 'state_dict' (or a bare state dict), keys with or without DataParallel's
'module.' prefix; torch is needed only to unpickle it. Every array of our model comes from
the file: a key that is missing, left over or of another shape raises
`StudioGANCheckpointError` (a ValueError) naming the key and the expected shape.

Names (StudioGAN <- ours): linear0 <- dense, blocks.<k>.0 <- block<i> and nonlocal<r> in
network order (an attention block takes its own k), bn4 <- bn, conv2d5 <- conv_out,
linear1 <- linear, embedding <- embed, shared <- shared (BigGAN's class embedding); in
blocks conv2d0/1/2 <- shortcut/conv1/conv2, in attention conv1x1_theta/phi/g/attn <-
query/key/value/out and sigma <- gamma. Layouts:
conv OIHW -> HWIO, linear (out, in) -> (in, out), linear0's outputs NCHW (C, 4, 4) -> NHWC
(4, 4, C); spectral norm weight_orig / weight_u / weight_v -> the kernel and the 'spectral'
collection's u, v (a conv's v reordered like its kernel); BatchNorm running_mean /
running_var -> batch_stats mean / var; num_batches_tracked is not used.
"""

import dataclasses
import os
import re
from collections.abc import Callable, Mapping
from typing import Any

import flax
import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from absl import app, flags
from ml_collections import config_flags

from an_flax.models import build_models
from an_flax.models.resnet_gan import discriminator_resolutions
from an_flax.runtime.checkpoints import Checkpointer
from an_flax.training.config import validate_config
from an_flax.runtime import streams
from an_flax.training.state import (TrainState, initial_lecam, make_optimizers,
                                    train_state_from_variables)

TORCH_VERSION = "2.13.0"
# Model fields whose values the file cannot show, and StudioGAN's.
STUDIOGAN_MODEL = {"spectral_form": "torch", "g_bn_epsilon": 1e-4, "g_cbn_form": "one_plus",
                   "d_activated_shortcut": True}
_TOP = {"dense": "linear0", "bn": "bn4", "conv_out": "conv2d5", "linear": "linear1",
        "embed": "embedding", "shared": "shared"}
_INNER = {"conv1": "conv2d1", "conv2": "conv2d2", "shortcut": "conv2d0", "query": "conv1x1_theta",
          "key": "conv1x1_phi", "value": "conv1x1_g", "out": "conv1x1_attn"}
_WRAPPED = ("conv", "dense", "embed")  # the linen layer inside SNConv / SNDense / SNEmbed


class StudioGANCheckpointError(ValueError):
  """A file or config that does not fit the other; the message names the key or field."""


def _torch():
  try:
    import torch  # pylint: disable=import-outside-toplevel
  except ImportError as error:
    raise ImportError("Reading a StudioGAN checkpoint needs PyTorch to unpickle it: "
                      f"pip install torch=={TORCH_VERSION}") from error
  return torch


def _numpy_globals() -> list:
  """What StudioGAN's files pickle besides tensors: numpy scalars (D's best_fid)."""
  scalar = np._core.multiarray.scalar  # pylint: disable=protected-access
  dtypes = [type(np.dtype(name)) for name in ("float16", "float32", "float64", "int32", "int64")]
  return [scalar, (scalar, "numpy.core.multiarray.scalar"), np.dtype, *dtypes]


@dataclasses.dataclass(frozen=True)
class Checkpoint:
  """A StudioGAN `.pth`: its state dict as float32 arrays (no 'module.' prefix), its step."""

  path: str
  arrays: Mapping[str, np.ndarray]
  step: int


def read_checkpoint(path: str, framework: str = "StudioGAN") -> Checkpoint:
  """Unpickles `path` with torch (tensors and plain data only, `weights_only=True`).

  A dict with 'state_dict' (StudioGAN's files) or a bare state dict (BigGAN-PyTorch's);
  `framework` names the file's origin in the error of a missing file.
  """
  if not os.path.isfile(path):
    raise FileNotFoundError(f"No {framework} checkpoint at {path}.")
  torch = _torch()
  try:
    with torch.serialization.safe_globals(_numpy_globals()):
      saved = torch.load(path, map_location="cpu", weights_only=True)
  except Exception as error:  # pylint: disable=broad-except
    reason = str(error).strip().splitlines()[0][:200] if str(error).strip() else ""
    raise StudioGANCheckpointError(f"{path} is not a checkpoint torch can read "
                                   f"({type(error).__name__}: {reason}).") from error
  state = saved.get("state_dict", saved) if isinstance(saved, dict) else None
  if not isinstance(state, Mapping) or not state or not all(
      torch.is_tensor(value) for value in state.values()):
    raise StudioGANCheckpointError(
        f"{path} holds no state dict: StudioGAN saves a dict with 'state_dict' (a mapping "
        f"of tensors), BigGAN-PyTorch the mapping itself; this file holds "
        f"{type(saved).__name__}"
        f"{' with keys ' + str(sorted(saved)[:8]) if isinstance(saved, dict) else ''}.")
  arrays = {key.removeprefix("module."): value.detach().cpu().float().numpy()
            for key, value in state.items()}
  step = saved.get("step") if isinstance(saved.get("step"), int) else None
  if step is None:
    match = re.search(r"step=(\d+)", os.path.basename(path))
    step = int(match.group(1)) if match else 0
  return Checkpoint(path, arrays, step)


def check_config(config: ml_collections.ConfigDict,
                 model_fields: Mapping[str, Any] = STUDIOGAN_MODEL, framework: str = "StudioGAN",
                 advice: str = "use a configs/studiogan config (see docs/studiogan.md)") -> None:
  """Raises StudioGANCheckpointError unless `config.model` builds `framework`'s layers:
  `model_fields` and no non-local module but self-attention; the message ends with
  `advice`."""
  model = config.model
  for field, value in model_fields.items():
    if model.get(field) != value:
      raise StudioGANCheckpointError(
          f"config.model.{field} is {model.get(field)!r}; {framework}'s layers need "
          f"{value!r}: {advice}.")
  for field in ("g_nonlocal", "d_nonlocal"):
    if model[field].kind not in ("none", "self_attention") or model[field].inside_blocks:
      raise StudioGANCheckpointError(
          f"config.model.{field}: StudioGAN's and BigGAN-PyTorch's networks have no "
          f"{model[field].kind!r} module; use 'none' or 'self_attention' after blocks.")


# ----------------------------------------------------------------------------
# Our variables <- StudioGAN's state dict.

@dataclasses.dataclass(frozen=True)
class _Source:
  """Where one of our arrays comes from: a torch key, its shape there, the conversion."""

  key: str
  shape: tuple[int, ...]
  convert: Callable[[np.ndarray], np.ndarray]


def _block_order(names: set[str], resolutions: list[int]) -> dict[str, int]:
  """Our block / after-block module names -> StudioGAN's `blocks.<k>` index.

  `resolutions[i]`: the output resolution of block i; a module 'nonlocal<r>' follows the
  first block whose output has resolution r, as the networks place it.
  """
  order, k = {}, 0
  for i, resolution in enumerate(resolutions):
    order[f"block{i}"], k = k, k + 1
    name = f"nonlocal{resolution}"
    if name in names and name not in order:
      order[name], k = k, k + 1
  return order


def _torch_module(path: tuple[str, ...], order: Mapping[str, int]) -> str:
  top, *rest = path
  head = f"blocks.{order[top]}.0" if top in order else _TOP[top]
  return ".".join([head] + [_INNER.get(name, name) for name in rest])


def _nchw_outputs(channels: int) -> Callable[[np.ndarray], np.ndarray]:
  """linear0's output axis (C * 16, NCHW order) -> ours ((4, 4, C) order), on the last axis."""
  return lambda x: np.swapaxes(x.reshape(*x.shape[:-1], channels, 16), -1, -2).reshape(x.shape)


def _source(collection: str, path: tuple[str, ...], shape: tuple[int, ...],
            order: Mapping[str, int], normalized: Mapping[tuple[str, ...], tuple[int, ...]]
            ) -> _Source:
  """The StudioGAN origin of our leaf `collection`/`path` of `shape`.

  `normalized`: the modules under spectral norm -> the shape of their kernel or table.
  """
  identity = lambda x: x
  if collection == "spectral":  # (..., 'TorchSpectralNorm_0', '<layer>/<param>/u|v')
    module, vector = path[:-2], path[-1].split("/")[-1]
    key = f"{_torch_module(module, order)}.weight_{vector}"
    weight = normalized[module]
    if module == ("dense",) and vector == "u":
      return _Source(key, shape, _nchw_outputs(shape[0] // 16))
    if len(weight) == 4 and vector == "v":
      kh, kw, cin, _ = weight
      return _Source(key, shape, lambda v: v.reshape(cin, kh, kw).transpose(1, 2, 0).ravel())
    return _Source(key, shape, identity)
  if collection == "batch_stats":
    name = {"mean": "running_mean", "var": "running_var"}[path[-1]]
    return _Source(f"{_torch_module(path[:-1], order)}.{name}", shape, identity)
  layer, leaf = path[-2], path[-1]
  module = path[:-2] if layer in _WRAPPED else path[:-1]
  head = _torch_module(module, order)
  if leaf in ("kernel", "embedding"):
    key = f"{head}.weight_orig" if module in normalized else f"{head}.weight"
    if len(shape) == 4:
      return _Source(key, (shape[3], shape[2], shape[0], shape[1]),
                     lambda w: w.transpose(2, 3, 1, 0))
    if layer == "dense":
      permute = _nchw_outputs(shape[1] // 16) if module == ("dense",) else identity
      return _Source(key, (shape[1], shape[0]), lambda w: permute(w.T))
    return _Source(key, shape, identity)
  if leaf == "bias" and module == ("dense",):
    return _Source(f"{head}.bias", shape, _nchw_outputs(shape[0] // 16))
  if leaf == "gamma":
    return _Source(f"{head}.sigma", (1,), lambda x: x.reshape(()))
  return _Source(f"{head}.{'weight' if leaf == 'scale' else leaf}", shape, identity)


def _hint(missing: list[str], arrays: Mapping[str, np.ndarray], network: str) -> str:
  """Why G's keys may be missing, when the file has a missing key's spectral-norm twin."""
  for key in missing if network == "G" else ():
    if key.endswith(".weight_orig") and key.removesuffix("_orig") in arrays:
      return (" The file's layers have no spectral norm: set config.model.g_spectral_norm="
              "False (StudioGAN's SNGAN G has none, its SAGAN G has it).")
    if key.endswith(".weight") and key + "_orig" in arrays:
      return (" The file's layers are spectrally normalised: set config.model."
              "g_spectral_norm=True (StudioGAN's SAGAN G).")
  return ""


def _fill(abstract: Any, checkpoint: Checkpoint, order: Mapping[str, int], network: str,
          file_names: Mapping[str, str]) -> dict:
  """Our variables of `abstract`'s structure, every leaf from `checkpoint`.

  `file_names`: the file's own name of each key, for the messages, where the checkpoint
  was translated to StudioGAN's names (BigGAN-PyTorch's); a key the file lacks is named
  as StudioGAN names it, and says so.
  """
  named = lambda key: file_names.get(key, key)
  flat = flax.traverse_util.flatten_dict(flax.core.unfreeze(abstract))
  normalized = {}
  for (collection, *path), _ in flat.items():
    if collection == "spectral":
      module = tuple(path[:-2])
      layer, param, _ = path[-1].split("/")
      normalized[module] = flat[("params", *module, layer, param)].shape
  sources = {key: _source(key[0], tuple(key[1:]), tuple(leaf.shape), order, normalized)
             for key, leaf in flat.items()}
  arrays = checkpoint.arrays
  missing = [(key, source) for key, source in sources.items() if source.key not in arrays]
  unused = sorted(named(k) for k in arrays.keys() - {s.key for s in sources.values()}
                  if not k.endswith("num_batches_tracked"))
  other = (f" It has {len(unused)} key(s) the config's {network} has not, e.g. "
           f"{unused[:4]}: a checkpoint of another architecture (attention placement, "
           "spectral norm, resolution) than the config's." if unused else "")
  if missing:
    key, source = missing[0]
    more = f" and {len(missing) - 1} more keys" if len(missing) > 1 else ""
    translated = " (StudioGAN's name)" if file_names else ""
    raise StudioGANCheckpointError(
        f"{checkpoint.path}: no '{source.key}'{translated} (expected shape {source.shape}, for "
        f"our {network}'s {'/'.join(key)}){more}."
        f"{_hint([s.key for _, s in missing], arrays, network)}{other}")
  if unused:
    raise StudioGANCheckpointError(f"{checkpoint.path}:{other}")
  filled = {}
  for key, source in sources.items():
    if arrays[source.key].shape != source.shape:
      raise StudioGANCheckpointError(
          f"{checkpoint.path}: '{named(source.key)}' has shape {arrays[source.key].shape}, the "
          f"config's {network} expects {source.shape} (our {'/'.join(key)}): another width, "
          "number of classes or resolution (config.model.g_ch / d_ch, num_classes, "
          "resolution)?")
    filled[key] = jnp.asarray(source.convert(arrays[source.key]), flat[key].dtype)
  return flax.traverse_util.unflatten_dict(filled)


def _abstract(module: nn.Module, *inputs: jax.ShapeDtypeStruct) -> Any:
  return jax.eval_shape(lambda *x: module.init(jax.random.key(0), *x, train=False), *inputs)


def _wrong_network(checkpoint: Checkpoint, network: str) -> None:
  """A G file given for D or the other way round: says so before any key is compared."""
  modules = {key.split(".")[0] for key in checkpoint.arrays}
  is_g, is_d = "linear0" in modules, bool(modules & {"linear1", "embedding"})
  if network == "G" and is_d and not is_g:
    raise StudioGANCheckpointError(
        f"{checkpoint.path} is a discriminator's checkpoint (it has linear1 and embedding, "
        "no linear0): give it as --discriminator (load_discriminator).")
  if network == "D" and is_g and not is_d:
    raise StudioGANCheckpointError(
        f"{checkpoint.path} is a generator's checkpoint (it has linear0, no linear1 or "
        "embedding): give it as --checkpoint (load_generator).")


def generator_variables(checkpoint: Checkpoint, generator: nn.Module, z_dim: int,
                        file_names: Mapping[str, str] | None = None) -> dict:
  """`generator`'s variables from StudioGAN-named `checkpoint`: a G with `multipliers`
  whose block i outputs resolution 8 * 2**i (ours, BigGAN's). `file_names`: see `_fill`."""
  abstract = _abstract(generator, jax.ShapeDtypeStruct((1, z_dim), jnp.float32),
                       jax.ShapeDtypeStruct((1,), jnp.int32))
  resolutions = [8 * 2 ** i for i in range(len(generator.multipliers) - 1)]
  order = _block_order(set(abstract["params"]), resolutions)
  return _fill(abstract, checkpoint, order, "G", file_names or {})


def discriminator_variables(checkpoint: Checkpoint, discriminator: nn.Module,
                            resolution: int) -> dict:
  """`discriminator`'s variables (our projection D, for images of `resolution`) from
  StudioGAN's `checkpoint`."""
  abstract = _abstract(
      discriminator, jax.ShapeDtypeStruct((1, resolution, resolution, 3), jnp.float32),
      jax.ShapeDtypeStruct((1,), jnp.int32))
  stages = discriminator_resolutions(resolution, len(discriminator.multipliers),
                                     discriminator.final_resolution)
  order = _block_order(set(abstract["params"]), [out for _, out in stages])
  return _fill(abstract, checkpoint, order, "D", {})


def _generator(checkpoint: Checkpoint, config: ml_collections.ConfigDict,
               file_names: Mapping[str, str] | None = None) -> tuple[nn.Module, dict]:
  """The config's G and its variables from StudioGAN-named `checkpoint` (`file_names`: see
  `_fill`); the config's layers are the caller's to check."""
  _wrong_network(checkpoint, "G")
  generator, _ = build_models(config.model)
  return generator, generator_variables(checkpoint, generator, config.model.z_dim, file_names)


def _discriminator(checkpoint: Checkpoint, config: ml_collections.ConfigDict
                   ) -> tuple[nn.Module, dict]:
  check_config(config)
  _wrong_network(checkpoint, "D")
  _, discriminator = build_models(config.model)
  return discriminator, discriminator_variables(checkpoint, discriminator,
                                                config.model.resolution)


def load_generator(path: str, config: ml_collections.ConfigDict) -> tuple[nn.Module, dict]:
  """(generator, variables) of StudioGAN's G (or G_ema) file at `path`, for `config`.

  `generator.apply(variables, z, labels, train=False)` gives StudioGAN's eval-mode
  images, NHWC. Raises StudioGANCheckpointError for a file or config that does not fit.
  """
  check_config(config)
  return _generator(read_checkpoint(path), config)


def load_discriminator(path: str, config: ml_collections.ConfigDict
                       ) -> tuple[nn.Module, dict]:
  """(discriminator, variables) of StudioGAN's D file at `path`, for `config`.

  `discriminator.apply(variables, images, labels, train=False)`: StudioGAN's eval-mode
  `adv_output` for NHWC images in [-1, 1].
  """
  return _discriminator(read_checkpoint(path), config)


def train_state(config: ml_collections.ConfigDict, g_variables: dict, d_variables: dict,
                step: int) -> TrainState:
  """The train state of these networks (`train_state_from_variables`: G and G_ema
  `g_variables`, D `d_variables`, fresh optimiser states). Not `create_train_state`: it
  would initialise G only to overwrite it (an orthogonal init compiles a QR per kernel
  shape)."""
  return train_state_from_variables(g_variables, d_variables, *make_optimizers(config),
                                    streams.training_key(config.seed), step,
                                    initial_lecam(config))


def check_fresh(workdir: str) -> None:
  """Raises StudioGANCheckpointError when `workdir` already holds checkpoints."""
  directory = os.path.join(os.path.abspath(workdir), "checkpoints")
  if os.path.isdir(directory) and os.listdir(directory):
    raise StudioGANCheckpointError(f"{directory} already holds checkpoints: convert into a "
                                   "fresh --workdir.")


def write_train_state(config: ml_collections.ConfigDict, workdir: str, g_variables: dict,
                      step: int, d_variables: dict | None = None) -> str:
  """Writes the train state of G (and G_ema) `g_variables` into `workdir` as checkpoint
  `step`; D is `d_variables`, or when None the config's initialisation (seed
  `config.seed`); optimiser states are fresh. Returns the checkpoint's directory."""
  if d_variables is None:
    _, discriminator = build_models(config.model)
    size = config.model.resolution
    d_variables = jax.jit(lambda key: discriminator.init(
        key, jnp.zeros((1, size, size, 3)), jnp.zeros((1,), jnp.int32), train=False))(
            streams.training_key(config.seed))
  state = train_state(config, g_variables, flax.core.unfreeze(d_variables), step)
  checkpointer = Checkpointer(workdir, config.checkpoint.every_steps, config.checkpoint.keep)
  try:
    checkpointer.save(step, state, config)
    checkpointer.wait()
  finally:
    checkpointer.close()
  return os.path.join(os.path.abspath(workdir), "checkpoints", str(step))


def convert(checkpoint_path: str, config: ml_collections.ConfigDict, workdir: str,
            discriminator_path: str | None = None) -> str:
  """Writes a train state with G and G_ema from `checkpoint_path` into `workdir`.

  D comes from `discriminator_path` when given, else from the config's initialisation
  (seed `config.seed`); optimiser states are fresh; the step is StudioGAN's (the file's
  'step', else its name's 'step=N', else 0). Returns the checkpoint's directory.
  """
  validate_config(config, training=False)
  check_config(config)
  check_fresh(workdir)
  g_file = read_checkpoint(checkpoint_path)
  _, g_variables = _generator(g_file, config)
  d_variables, step = None, g_file.step
  if discriminator_path:
    d_file = read_checkpoint(discriminator_path)
    _, d_variables = _discriminator(d_file, config)
    step = d_file.step
  return write_train_state(config, workdir, g_variables, step, d_variables)


# ----------------------------------------------------------------------------
# Command line.

def define_flags(checkpoint_help: str) -> None:
  """The converters' flags: --config, --checkpoint (`checkpoint_help`), --discriminator,
  --workdir."""
  config_flags.DEFINE_config_file(
      "config", None, "The config the checkpoint converts into.", lock_config=True)
  flags.DEFINE_string("checkpoint", None, checkpoint_help)
  flags.DEFINE_string("discriminator", None,
                      "StudioGAN's D file (model=D-...pth); default: D initialised.")
  flags.DEFINE_string("workdir", None, "Where to write the Orbax checkpoint.")
  flags.mark_flags_as_required(["config", "checkpoint", "workdir"])


def run_conversion(command: str, conversion: Callable[[], str]) -> None:
  """`conversion()` (it returns the checkpoint written) with a bad file, config or workdir as
  one line naming `command`, and what to run next."""
  args = flags.FLAGS
  try:
    written = conversion()
  except (ValueError, ImportError, OSError) as error:
    raise SystemExit(f"{command}: {error}") from None
  config_file = config_flags.get_config_filename(args["config"])
  print(f"Wrote {written}: G and G_ema from {args.checkpoint}, D "
        f"{'from ' + args.discriminator if args.discriminator else 'initialised'}. "
        f"Evaluate: python eval.py --config={config_file} --workdir={args.workdir}")


def main(argv: list[str]) -> None:
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
  args = flags.FLAGS
  run_conversion("an_flax.convert.studiogan", lambda: convert(
      args.checkpoint, args.config, args.workdir, args.discriminator))


if __name__ == "__main__":
  define_flags("StudioGAN's G or G_ema file, e.g. model=G_ema-best-weights-step=N.pth.")
  app.run(main)
