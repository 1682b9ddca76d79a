"""`build_models(config.model)`: a config's networks, checked: the ResNet GAN or BigGAN.

`config.model.architecture` picks them: 'resnet' (`an_flax.models.resnet_gan`: SN-GAN,
SA-GAN and AN ResNets) or 'biggan' (`an_flax.models.biggan`: a shared class embedding and
hierarchical z in G; D is the same projection D). Both read the same fields for their
widths, non-local modules and layers; BigGAN adds `shared_dim` and `hierarchical_z`. Every
problem is a ValueError naming the field and what to do.
"""

import math
from typing import Any, Mapping, Tuple

import jax.numpy as jnp

from an_flax.layers import CBN_FORMS, SPECTRAL_FORMS
from an_flax.models import biggan, non_local
from an_flax.models.blocks import NonLocal
from an_flax.models.layer_options import INITS, LayerOptions
from an_flax.models.resnet_gan import Discriminator, Generator, discriminator_resolutions

ARCHITECTURES = ("resnet", "biggan")
_DTYPES = {"float32": jnp.float32, "bfloat16": jnp.bfloat16}


def _get(cfg: Mapping[str, Any], path: str) -> Any:
  """cfg[path] for a dotted path below `model`, with an error naming the field."""
  value = cfg
  for key in path.split("."):
    if value is None or key not in value:
      raise ValueError(f"model.{path} is missing from the model config: add it "
                       "(configs/base.py declares every field).")
    value = value[key]
  return value


def _fail(field: str, problem: str, fix: str) -> None:
  raise ValueError(f"model.{field}: {problem}; {fix}.")


def _log2(x: int) -> int:
  return int(round(math.log2(x)))


def _is_power_of_two(x: Any) -> bool:
  return isinstance(x, int) and x > 0 and x & (x - 1) == 0


def _layer_options(cfg: Mapping[str, Any]) -> LayerOptions:
  """The optional layer fields; an absent one keeps this project's default."""
  default = LayerOptions()
  layers = LayerOptions(
      spectral_form=str(cfg.get("spectral_form", default.spectral_form)),
      init=str(cfg.get("init", default.init)),
      bn_epsilon=float(cfg.get("g_bn_epsilon", default.bn_epsilon)),
      cbn_form=str(cfg.get("g_cbn_form", default.cbn_form)))
  if layers.spectral_form not in SPECTRAL_FORMS:
    _fail("spectral_form", f"unknown {layers.spectral_form!r}", f"use one of {SPECTRAL_FORMS}")
  if layers.init not in INITS:
    _fail("init", f"unknown {layers.init!r}", f"use one of {tuple(INITS)}")
  if layers.bn_epsilon <= 0:
    _fail("g_bn_epsilon", f"got {layers.bn_epsilon}",
          "use a small positive value such as 1e-5 (StudioGAN: 1e-4)")
  if layers.cbn_form not in CBN_FORMS:
    _fail("g_cbn_form", f"unknown {layers.cbn_form!r}", f"use one of {CBN_FORMS}")
  return layers


def _nonlocal(cfg: Mapping[str, Any], field: str, widths_after: Mapping[int, int],
              widths_inside: Mapping[int, int]) -> NonLocal:
  """Parses and checks `model.<field>` against the resolutions the network has.

  widths_after / widths_inside map each resolution where a module can sit
  after / inside a block to the channel count it would see there.
  """
  kind_name = str(_get(cfg, f"{field}.kind"))
  unknown = non_local.kind_problem(kind_name)
  if unknown:
    _fail(f"{field}.kind", *unknown)
  if kind_name == non_local.NONE:
    return NonLocal()
  kind = non_local.KINDS[kind_name]
  options = non_local.Options({name: _get(cfg, f"{kind.options_field}.{name}")
                               for name in kind.option_names})
  bad_option = kind.options_problem(options)
  if bad_option:
    option, problem, fix = bad_option
    _fail(f"{kind.options_field}.{option}", problem, fix)
  spec = NonLocal(kind=kind_name,
                  resolutions=tuple(int(r) for r in _get(cfg, f"{field}.resolutions")),
                  inside_blocks=bool(_get(cfg, f"{field}.inside_blocks")), options=options)
  if spec.inside_blocks and not kind.inside_blocks:
    _fail(f"{field}.inside_blocks", f"True is not supported for {kind_name!r}",
          "set it to False")
  widths = widths_inside if spec.inside_blocks else widths_after
  where = "inside a block (convolutions at)" if spec.inside_blocks else "after a block at"
  for resolution in spec.resolutions:
    if resolution not in widths:
      _fail(f"{field}.resolutions", f"no place {where} resolution {resolution}",
            f"choose among {sorted(widths)}")
    problem = kind.placement_problem(options, resolution, widths[resolution])
    if problem:
      _fail(f"{field}.resolutions", *problem)
  return spec


def _biggan_generator(cfg: Mapping[str, Any], g_mults: Tuple[int, ...],
                      nonlocal_: NonLocal, layers: LayerOptions, dtype: Any) -> biggan.Generator:
  """BigGAN's G, after the checks of what only it needs."""
  if not _get(cfg, "g_spectral_norm"):
    _fail("g_spectral_norm", "False for architecture 'biggan'",
          "set it True: BigGAN's G has spectral norm on every layer but its shared embedding")
  if layers.cbn_form != "one_plus":
    _fail("g_cbn_form", f"{layers.cbn_form!r} for architecture 'biggan'",
          "set it 'one_plus': BigGAN's BatchNorm gains read [shared embedding, z chunk] "
          "through dense layers (gamma = 1 + W_gain c)")
  shared_dim = cfg.get("shared_dim", biggan.Generator.shared_dim)
  if not isinstance(shared_dim, int) or shared_dim < 1:
    _fail("shared_dim", f"got {shared_dim!r}", "use a positive integer (BigGAN: 128)")
  hierarchical = bool(cfg.get("hierarchical_z", True))
  z_dim = _get(cfg, "z_dim")
  if hierarchical and z_dim % len(g_mults):
    _fail("z_dim", f"{z_dim} does not split into {len(g_mults)} equal chunks (the 4x4 map "
          f"and {len(g_mults) - 1} blocks of hierarchical z)",
          f"use a multiple of {len(g_mults)}, e.g. {20 * len(g_mults)} (chunks of 20, as "
          "StudioGAN and BigGAN-PyTorch), or set model.hierarchical_z=False")
  return biggan.Generator(num_classes=cfg["num_classes"], ch=_get(cfg, "g_ch"),
                          shared_dim=shared_dim, hierarchical=hierarchical,
                          multipliers=g_mults, nonlocal_=nonlocal_, layers=layers, dtype=dtype)


def build_models(cfg: Mapping[str, Any]) -> Tuple[Any, Discriminator]:
  """(generator, discriminator) from the `config.model` ConfigDict (or a dict).

  Fields: resolution, num_classes, z_dim, g_ch, d_ch, g_multipliers,
  d_multipliers, g_spectral_norm, g_nonlocal / d_nonlocal {kind, resolutions,
  inside_blocks}, the options group of each kind placed (`an` for AN: see
  `an_flax.models.non_local`), dtype; optional architecture ('resnet' when absent),
  shared_dim and hierarchical_z (BigGAN's; absent: 128 and True), d_final_resolution
  (where D stops downsampling; None or absent: 8 at resolution 32, as SN-GAN's CIFAR D,
  else 4 as SN-GAN's / SA-GAN's ImageNet D), d_activated_shortcut (absent: False) and the
  optional layer fields spectral_form, init, g_bn_epsilon, g_cbn_form
  (`LayerOptions`; absent: its defaults). Raises ValueError naming the offending
  field and what to do.
  """
  architecture = cfg.get("architecture", "resnet")
  if architecture not in ARCHITECTURES:
    _fail("architecture", f"unknown {architecture!r}", f"use one of {ARCHITECTURES}")
  resolution = _get(cfg, "resolution")
  if not _is_power_of_two(resolution) or resolution < 8:
    _fail("resolution", f"got {resolution!r}", "use a power of two >= 8 (32, 64 or 128)")
  for field in ("num_classes", "z_dim", "g_ch", "d_ch"):
    value = _get(cfg, field)
    if not isinstance(value, int) or value < 1:
      _fail(field, f"got {value!r}", "use a positive integer")

  g_mults = tuple(int(m) for m in _get(cfg, "g_multipliers"))
  num_up = _log2(resolution // 4)
  if len(g_mults) != num_up + 1 or min(g_mults) < 1:
    _fail("g_multipliers", f"got {g_mults} for resolution {resolution}",
          f"give {num_up + 1} positive values: the 4x4 width, then one per up-block "
          f"(4 -> {resolution} takes {num_up} up-blocks), e.g. (16, 16, 8, 4, 2, 1) for 128")

  final = cfg.get("d_final_resolution") or (8 if resolution == 32 else 4)
  if not _is_power_of_two(final) or final > resolution // 2:
    _fail("d_final_resolution", f"got {final!r}", "use a power of two <= resolution / 2")
  d_mults = tuple(int(m) for m in _get(cfg, "d_multipliers"))
  num_down = _log2(resolution // final)
  if len(d_mults) < num_down + 1 or min(d_mults) < 1:
    _fail("d_multipliers", f"got {d_mults} for resolution {resolution}",
          f"give at least {num_down + 1} positive values: {num_down} downsampling blocks "
          f"({resolution} -> {final}) and a final one without, e.g. (1, 2, 4, 8, 16, 16) "
          "for 128")

  dtype_name = _get(cfg, "dtype")
  if dtype_name not in _DTYPES:
    _fail("dtype", f"unknown {dtype_name!r}", f"use one of {sorted(_DTYPES)}")

  g_ch, d_ch = _get(cfg, "g_ch"), _get(cfg, "d_ch")
  g_widths = {4 * 2 ** (i + 1): g_ch * m for i, m in enumerate(g_mults[1:])}
  g_nonlocal = _nonlocal(cfg, "g_nonlocal", g_widths, g_widths)
  stages = discriminator_resolutions(resolution, len(d_mults), final)
  d_after, d_inside = {}, {}
  for m, (res_in, res_out) in zip(d_mults, stages):
    d_inside.setdefault(res_in, d_ch * m)
    d_after.setdefault(res_out, d_ch * m)
  d_nonlocal = _nonlocal(cfg, "d_nonlocal", d_after, d_inside)

  dtype, layers = _DTYPES[dtype_name], _layer_options(cfg)
  if architecture == "biggan":
    generator = _biggan_generator(cfg, g_mults, g_nonlocal, layers, dtype)
  else:
    generator = Generator(
        num_classes=cfg["num_classes"], ch=g_ch, multipliers=g_mults,
        spectral=bool(_get(cfg, "g_spectral_norm")), nonlocal_=g_nonlocal, layers=layers,
        dtype=dtype)
  discriminator = Discriminator(
      num_classes=cfg["num_classes"], ch=d_ch, multipliers=d_mults, final_resolution=final,
      activated_shortcut=bool(cfg.get("d_activated_shortcut", False)), nonlocal_=d_nonlocal,
      layers=layers, dtype=dtype)
  return generator, discriminator
