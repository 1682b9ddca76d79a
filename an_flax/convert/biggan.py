r"""BigGAN checkpoints of StudioGAN and BigGAN-PyTorch as `an_flax.models.biggan`'s networks.

Command line (an Orbax train state that `eval.py --mode=samples|metrics` and `train.py` read,
written as `an_flax.convert.studiogan` writes it):
  python -m an_flax.convert.biggan --checkpoint=FILE --workdir=DIR \
      --config=configs/studiogan/imagenet128_biggan.py [--discriminator=D.pth]
  python -m an_flax.convert.biggan --checkpoint=G_ema.pth --workdir=DIR \
      --config=configs/biggan_pytorch/imagenet128_bs256x8.py --format=biggan_pytorch
`--format=studiogan` (default): StudioGAN's BigGAN G or G_ema, and its D when given.
`--format=biggan_pytorch`: BigGAN-PyTorch's `G.pth` / `G_ema.pth`; its D is not converted
(D starts from the config's initialisation). The config must build the file's layers.

Library:
  load_studiogan_generator(path, generator) -> variables: StudioGAN's BigGAN G or G_ema
      (`model=G_ema-...pth`, a dict with 'state_dict'; torch's spectral-norm keys
      weight_orig / weight_u / weight_v), for `biggan.Generator(layers=STUDIOGAN_LAYERS)`.
  load_studiogan_discriminator(path, discriminator) -> variables: its D, for
      `biggan.discriminator(layers=STUDIOGAN_LAYERS, activated_shortcut=True)`.
  load_biggan_pytorch_generator(path, generator) -> variables: BigGAN-PyTorch's `G.pth` /
      `G_ema.pth` (a bare state dict; its own spectral norm: weight, u0, sv0), for
      `biggan.Generator(layers=BIGGAN_PYTORCH_LAYERS)`.
`generator.apply(variables, z, labels, train=False)` then draws the images the PyTorch G
draws in eval mode for the same z and labels (BigGAN-PyTorch's: `G(z, G.shared(labels))`).

StudioGAN's files load through `an_flax.convert.studiogan` (its names, layouts and checks;
our BigGAN G has the same module names as our SA-GAN G, plus 'shared'). A BigGAN-PyTorch
state dict is first written in StudioGAN's names (`studiogan_state`), so one mapping serves
both; error messages name the file's own keys. Its names (BigGAN-PyTorch -> StudioGAN):
linear -> linear0; blocks.<i>.0 (a GBlock) and blocks.<i>.1 (its attention) -> blocks.<k>.0
in network order; conv1 / conv2 / conv_sc -> conv2d1 / conv2d2 / conv2d0; a ccbn's
stored_mean / stored_var -> bn.running_mean / running_var; theta / phi / g / o / gamma ->
conv1x1_theta / conv1x1_phi / conv1x1_g / conv1x1_attn / sigma; output_layer.0 (gain,
bias, stored_mean, stored_var) -> bn4 (weight, bias, running_mean, running_var);
output_layer.2 -> conv2d5; shared stays.

Spectral norm: BigGAN-PyTorch stores only u and runs one power iteration at every call,
eval included: v = n(u W), u' = n(v W^T), sigma = v W^T u'. Torch's form (ours) divides
by u . W v with stored u, v in eval mode, so the converter stores the (u', v) of that
iteration, computed in float64: the same eval-mode weights. In train mode our vectors are
one power iteration ahead of BigGAN-PyTorch's; sv0 (a logged value) is not used.
"""

import dataclasses
import re
from collections.abc import Mapping

import flax.linen as nn
import ml_collections
import numpy as np
from absl import app, flags

from an_flax.convert import studiogan
from an_flax.convert.studiogan import StudioGANCheckpointError
from an_flax.layers.spectral import SPECTRAL_EPSILON
from an_flax.models import build_models
from an_flax.training.config import validate_config

BIGGAN_Z_DIM = 120  # StudioGAN's ImageNet BigGAN and BigGAN-PyTorch's 128x128 runs
FORMATS = ("studiogan", "biggan_pytorch")
# What BigGAN-PyTorch's G file cannot show: its layers (`--BN_eps 1e-5`; its spectral norm's
# eval rule is torch's with the vectors `studiogan_state` computes; gains 1 + W c).
BIGGAN_PYTORCH_MODEL = {"spectral_form": "torch", "g_bn_epsilon": 1e-5, "g_cbn_form": "one_plus"}
BIGGAN_PYTORCH_CONFIG = "configs/biggan_pytorch/imagenet128_bs256x8.py"
_LAYERS = {"conv1": "conv2d1", "conv2": "conv2d2", "conv_sc": "conv2d0",
           "theta": "conv1x1_theta", "phi": "conv1x1_phi", "g": "conv1x1_g", "o": "conv1x1_attn"}
_OUTPUT_BN = {"gain": "weight", "bias": "bias", "stored_mean": "running_mean",
              "stored_var": "running_var"}


def load_studiogan_generator(path: str, generator: nn.Module, z_dim: int = BIGGAN_Z_DIM
                             ) -> dict:
  """The variables of StudioGAN's BigGAN G (or G_ema) file at `path` for `generator`."""
  return studiogan.generator_variables(studiogan.read_checkpoint(path), generator, z_dim)


def load_studiogan_discriminator(path: str, discriminator: nn.Module, resolution: int = 128
                                 ) -> dict:
  """The variables of StudioGAN's BigGAN D file at `path` for `discriminator`."""
  return studiogan.discriminator_variables(studiogan.read_checkpoint(path), discriminator,
                                           resolution)


def load_biggan_pytorch_generator(path: str, generator: nn.Module, z_dim: int = BIGGAN_Z_DIM
                                  ) -> dict:
  """The variables of BigGAN-PyTorch's G (or G_ema) file at `path` for `generator`."""
  checkpoint, file_names = _read_biggan_pytorch(path)
  return studiogan.generator_variables(checkpoint, generator, z_dim, file_names)


def _read_biggan_pytorch(path: str) -> tuple[studiogan.Checkpoint, dict[str, str]]:
  """BigGAN-PyTorch's G file in StudioGAN's names, and each key's name in the file."""
  checkpoint = studiogan.read_checkpoint(path, framework="BigGAN-PyTorch")
  arrays, file_names = studiogan_state(checkpoint.arrays, checkpoint.path)
  return dataclasses.replace(checkpoint, arrays=arrays), file_names


def convert(checkpoint_path: str, config: ml_collections.ConfigDict, workdir: str,
            checkpoint_format: str = "studiogan", discriminator_path: str | None = None
            ) -> str:
  """Writes a train state with G and G_ema from the BigGAN file `checkpoint_path` (of
  `checkpoint_format`, one of `FORMATS`) into `workdir`; returns the checkpoint's directory.

  StudioGAN's files go through `studiogan.convert` (D from `discriminator_path` when given).
  BigGAN-PyTorch's G: D from the config's initialisation, the step from the file's name
  ('step=N') or 0, fresh optimiser states.
  """
  if checkpoint_format not in FORMATS:
    raise ValueError(f"--format={checkpoint_format!r}: use one of {FORMATS}.")
  if config.model.architecture != "biggan":
    raise StudioGANCheckpointError(
        f"config.model.architecture is {config.model.architecture!r}; BigGAN's checkpoints "
        f"need 'biggan': use configs/studiogan/imagenet128_biggan.py or {BIGGAN_PYTORCH_CONFIG}.")
  if checkpoint_format == "studiogan":
    return studiogan.convert(checkpoint_path, config, workdir, discriminator_path)
  if discriminator_path:
    raise StudioGANCheckpointError(
        "--discriminator: BigGAN-PyTorch's D is not converted (its G and G_ema are); leave "
        "it out, and D starts from the config's initialisation.")
  validate_config(config, training=False)
  studiogan.check_config(config, BIGGAN_PYTORCH_MODEL, "BigGAN-PyTorch",
                         f"use {BIGGAN_PYTORCH_CONFIG}")
  studiogan.check_fresh(workdir)
  checkpoint, file_names = _read_biggan_pytorch(checkpoint_path)
  generator, _ = build_models(config.model)
  g_variables = studiogan.generator_variables(checkpoint, generator, config.model.z_dim,
                                              file_names)
  return studiogan.write_train_state(config, workdir, g_variables, checkpoint.step)


def _unit(x: np.ndarray) -> np.ndarray:
  """`torch.nn.functional.normalize` of a vector (BigGAN-PyTorch's `--SN_eps 1e-6`)."""
  return x / max(np.linalg.norm(x), SPECTRAL_EPSILON)


def _torch_spectral_vectors(weight: np.ndarray, u0: np.ndarray) -> tuple[np.ndarray, ...]:
  """(u', v) of BigGAN-PyTorch's power iteration from its stored u0, in float64."""
  matrix = weight.reshape(weight.shape[0], -1).astype(np.float64)
  v = _unit(u0.reshape(-1).astype(np.float64) @ matrix)
  u = _unit(matrix @ v)
  return u.astype(np.float32), v.astype(np.float32)


def _module_names(keys: list[str], path: str) -> dict[str, str]:
  """BigGAN-PyTorch's module prefixes -> StudioGAN's (see the module docstring)."""
  blocks = sorted({int(match.group(1)) for key in keys
                   if (match := re.match(r"blocks\.(\d+)\.0\.", key))})
  attention = {int(match.group(1)) for key in keys
               if (match := re.match(r"blocks\.(\d+)\.1\.", key))}
  if blocks != list(range(len(blocks))) or not attention <= set(blocks):
    raise StudioGANCheckpointError(
        f"{path}: its blocks are {blocks} with attention after {sorted(attention)}: not "
        "BigGAN-PyTorch's G (blocks.0.0, blocks.1.0, ... and blocks.<i>.1 for attention).")
  names, k = {"shared": "shared", "linear": "linear0", "output_layer.0": "bn4",
              "output_layer.2": "conv2d5"}, 0
  for i in blocks:
    names[f"blocks.{i}.0"], k = f"blocks.{k}.0", k + 1
    if i in attention:
      names[f"blocks.{i}.1"], k = f"blocks.{k}.0", k + 1
  return names


def studiogan_state(arrays: Mapping[str, np.ndarray], path: str
                    ) -> tuple[dict[str, np.ndarray], dict[str, str]]:
  """BigGAN-PyTorch's G state dict in StudioGAN's names, and each new key's old name.

  Spectral-norm layers (those with u0) get weight_orig, weight_u, weight_v (the vectors
  of the power iteration an eval call runs); sv0 is dropped.
  """
  names = _module_names(list(arrays), path)
  translated, file_names = {}, {}

  def put(key: str, value: np.ndarray, origin: str) -> None:
    translated[key], file_names[key] = value, origin

  for key, value in arrays.items():
    module, param = key.rsplit(".", 1)
    top = next((name for name in sorted(names, key=len, reverse=True)
                if module == name or module.startswith(name + ".")), None)
    if top is None:
      raise StudioGANCheckpointError(
          f"{path}: '{key}' is not a key of BigGAN-PyTorch's G (shared, linear, blocks, "
          "output_layer): a file of another network?")
    inner = [_LAYERS.get(part, part) for part in module[len(top):].split(".") if part]
    target = ".".join([names[top]] + inner)
    if re.fullmatch(r"(u|sv)[1-9]\d*", param):
      raise StudioGANCheckpointError(
          f"{path}: '{key}': spectral norm with several singular values (num_G_SVs > 1) "
          "has no counterpart here; use a file of num_G_SVs=1 (BigGAN-PyTorch's default).")
    if param == "sv0":
      continue
    if param == "u0":
      u, v = _torch_spectral_vectors(arrays[f"{module}.weight"], value)
      put(f"{target}.weight_u", u, key)
      put(f"{target}.weight_v", v, key)
    elif param == "weight" and f"{module}.u0" in arrays:
      put(f"{target}.weight_orig", value, key)
    elif top == "output_layer.0":
      put(f"{target}.{_OUTPUT_BN.get(param, param)}", value, key)
    elif param in ("stored_mean", "stored_var"):  # a ccbn's statistics
      put(f"{target}.bn.running_{param.removeprefix('stored_')}", value, key)
    elif param == "gamma":
      put(f"{target}.sigma", value.reshape(1), key)
    else:
      put(f"{target}.{param}", value, key)
  return translated, file_names


def main(argv: list[str]) -> None:
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
  args = flags.FLAGS
  studiogan.run_conversion("an_flax.convert.biggan", lambda: convert(
      args.checkpoint, args.config, args.workdir, args.format, args.discriminator))


if __name__ == "__main__":
  studiogan.define_flags("StudioGAN's BigGAN G or G_ema file (model=G_ema-...pth), or "
                         "BigGAN-PyTorch's G.pth / G_ema.pth with --format=biggan_pytorch.")
  flags.DEFINE_enum("format", "studiogan", FORMATS, "Whose checkpoint --checkpoint is.")
  app.run(main)
