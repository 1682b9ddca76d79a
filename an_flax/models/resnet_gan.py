"""Class-conditional ResNet GANs: SN-GAN / SA-GAN generator and projection D.

`build_models(config.model)` validates the configuration and returns
`(Generator, Discriminator)`. Call signatures:

  generator.apply(variables, z, labels, train=..., rngs={'sampling': key},
                  mutable=['batch_stats', 'spectral', 'losses', 'intermediates'])
      -> images (N, R, R, 3), float32 in [-1, 1]
  discriminator.apply(variables, images, labels, train=..., mutable=[...])
      -> logits (N,), float32

Collections: 'params'; 'batch_stats' (G's BatchNorm only); 'spectral'
(power-iteration state, advanced when train=True); 'losses' (AN's
'orthogonal' penalties, unweighted); 'intermediates' (AN's 'layout'). The
'sampling' stream is needed only when train=True and AN is present. Sown
values append to what the passed-in variables hold: never feed 'losses' or
'intermediates' back into the next apply.

Mixed precision: `dtype` is the compute dtype of every conv / dense and of the
non-local modules; parameters, BatchNorm statistics, G's tanh output and D's
head (sum-pooled features, linear, projection) are float32.
"""

import math
from typing import Any, Mapping, Sequence, Tuple

import flax.linen as nn
import jax
import jax.numpy as jnp

from an_flax.layers import CBN_FORMS, SPECTRAL_FORMS
from an_flax.models import non_local
from an_flax.models.blocks import DownBlock, NonLocal, UpBlock
from an_flax.models.layer_options import INITS, LayerOptions

_DTYPES = {"float32": jnp.float32, "bfloat16": jnp.bfloat16}


class Generator(nn.Module):
  """z, y -> image. Block i outputs resolution 8 * 2**i and ch * multipliers[i+1] channels.

  Parameter names: 'dense' (z -> 4x4), 'block{i}', 'nonlocal{resolution}'
  (after-block modules), 'block{i}/nonlocal' (inside-block modules), 'bn',
  'conv_out'.

  BatchNorm statistics are those of the batch the apply sees: the global batch
  under jit, even with a sharded batch; the device's rows inside shard_map
  (per-device statistics, `an_flax.training.state.generator_train_apply`).
  """

  num_classes: int
  ch: int = 64
  multipliers: Sequence[int] = (16, 16, 8, 4, 2, 1)
  spectral: bool = True
  nonlocal_: NonLocal = NonLocal()
  layers: LayerOptions = LayerOptions()
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, z: jax.Array, labels: jax.Array, train: bool = False) -> jax.Array:
    widths = [self.ch * m for m in self.multipliers]
    x = self.layers.dense(4 * 4 * widths[0], self.spectral, self.dtype, "dense")(z, train)
    x = x.reshape(z.shape[0], 4, 4, widths[0])
    resolution = 4
    for i, features in enumerate(widths[1:]):
      resolution *= 2
      inner = self.nonlocal_ if self.nonlocal_.in_block(resolution) else None
      x = UpBlock(features, self.num_classes, self.spectral, inner=inner, layers=self.layers,
                  dtype=self.dtype, name=f"block{i}")(x, labels, train)
      if self.nonlocal_.after_block(resolution):
        x = self.nonlocal_.module(self.spectral, self.dtype, f"nonlocal{resolution}",
                                  self.layers)(x, train)
    x = self.layers.batch_norm(train, self.dtype, "bn")(x)
    x = self.layers.conv(3, 3, self.spectral, self.dtype, "conv_out")(nn.relu(x), train)
    return jnp.tanh(x.astype(jnp.float32))


def discriminator_resolutions(
    resolution: int, num_blocks: int, final_resolution: int) -> Tuple[Tuple[int, int], ...]:
  """(input, output) resolution of each D block: downsample while > final_resolution."""
  stages = []
  for _ in range(num_blocks):
    out = resolution // 2 if resolution > final_resolution else resolution
    stages.append((resolution, out))
    resolution = out
  return tuple(stages)


class Discriminator(nn.Module):
  """Projection discriminator: image, y -> logit. Spectral norm on every layer.

  Block i has ch * multipliers[i] channels; block 0 is SN-GAN's optimized
  block; blocks downsample while the resolution exceeds `final_resolution`.
  A non-local module listed at resolution r sits after (or inside) the FIRST
  block whose output (or convolutions) has resolution r. Names: 'block{i}',
  'nonlocal{resolution}', 'block{i}/nonlocal', 'linear', 'embed'.
  `activated_shortcut`: see `DownBlock`.
  """

  num_classes: int
  ch: int = 64
  multipliers: Sequence[int] = (1, 2, 4, 8, 16, 16)
  final_resolution: int = 4
  activated_shortcut: bool = False
  nonlocal_: NonLocal = NonLocal()
  layers: LayerOptions = LayerOptions()
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, images: jax.Array, labels: jax.Array, train: bool = False) -> jax.Array:
    x = images.astype(self.dtype)
    stages = discriminator_resolutions(x.shape[1], len(self.multipliers), self.final_resolution)
    placed_inside, placed_after = set(), set()
    for i, (multiplier, (res_in, res_out)) in enumerate(zip(self.multipliers, stages)):
      inner = None
      if self.nonlocal_.in_block(res_in) and res_in not in placed_inside:
        inner = self.nonlocal_
        placed_inside.add(res_in)
      x = DownBlock(self.ch * multiplier, preactivation=i > 0, downsample=res_out < res_in,
                    activated_shortcut=self.activated_shortcut, inner=inner,
                    layers=self.layers, dtype=self.dtype, name=f"block{i}")(x, train)
      if self.nonlocal_.after_block(res_out) and res_out not in placed_after:
        x = self.nonlocal_.module(True, self.dtype, f"nonlocal{res_out}", self.layers)(
            x, train)
        placed_after.add(res_out)
    # Global SUM pooling; the head runs in float32.
    h = jnp.sum(nn.relu(x).astype(jnp.float32), axis=(1, 2))
    logits = self.layers.dense(1, True, jnp.float32, "linear")(h, train)[:, 0]
    embedding = self.layers.embed(self.num_classes, h.shape[-1], jnp.float32, "embed")(
        labels, train)
    return logits + jnp.sum(embedding * h, axis=-1)


# ----------------------------------------------------------------------------
# Configuration.

def _get(cfg: Mapping[str, Any], path: str) -> Any:
  """cfg[path] for a dotted path below `model`, with an error naming the field."""
  value = cfg
  for key in path.split("."):
    if value is None or key not in value:
      raise ValueError(f"model.{path} is missing from the model config: add it "
                       "(see an_flax.models.resnet_gan for the schema).")
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


def build_models(cfg: Mapping[str, Any]) -> Tuple[Generator, Discriminator]:
  """(generator, discriminator) from the `config.model` ConfigDict (or a dict).

  Fields: resolution, num_classes, z_dim, g_ch, d_ch, g_multipliers,
  d_multipliers, g_spectral_norm, g_nonlocal / d_nonlocal {kind, resolutions,
  inside_blocks}, the options group of each kind placed (`an` for AN: see
  `an_flax.models.non_local`), dtype; optional d_final_resolution (where D stops
  downsampling; None or absent: 8 at resolution 32, as SN-GAN's CIFAR D, else 4
  as SN-GAN's / SA-GAN's ImageNet D), d_activated_shortcut (absent: False) and the
  optional layer fields spectral_form, init, g_bn_epsilon, g_cbn_form
  (`LayerOptions`; absent: its defaults). Raises ValueError naming the offending
  field and what to do.
  """
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
  generator = Generator(
      num_classes=cfg["num_classes"], ch=g_ch, multipliers=g_mults,
      spectral=bool(_get(cfg, "g_spectral_norm")), nonlocal_=g_nonlocal, layers=layers,
      dtype=dtype)
  discriminator = Discriminator(
      num_classes=cfg["num_classes"], ch=d_ch, multipliers=d_mults, final_resolution=final,
      activated_shortcut=bool(cfg.get("d_activated_shortcut", False)), nonlocal_=d_nonlocal,
      layers=layers, dtype=dtype)
  return generator, discriminator
