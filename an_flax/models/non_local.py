"""The non-local modules a network can place, by kind: one registry for every network.

The ResNet GAN and BigGAN (`blocks`), the inpainting generator (`inpainting`), both
tasks' config checks and `benchmarks/nonlocal_study.py` read `KINDS` and nothing else. An
entry says how its module is built, which fields of its layer a config sets (their
defaults are the layer's own, so each is written once, on the layer), whether it may sit
inside a residual block, and what it needs of the feature map it is placed on. Adding a
module takes its layer (`an_flax/layers/`), one entry here and its test; docs/modules.md
walks through it.
"""

import dataclasses
from typing import Any, Callable, Mapping, Optional, Tuple

import flax
import flax.linen as nn

from an_flax.layers import AttentiveNorm, SelfAttention
from an_flax.models.layer_options import LayerOptions

NONE = "none"  # no module: the network goes on without one where it would sit
Options = flax.core.FrozenDict  # a kind's layer fields, as the config sets them
# (options, spectral, compute dtype, module name, layer options) -> module(x, train) -> x's shape
Builder = Callable[[Options, bool, Any, str, LayerOptions], nn.Module]
# (options, resolution, channels) -> (problem, fix) of placing the module there, or None
PlacementCheck = Callable[[Options, int, int], Optional[Tuple[str, str]]]
# (options) -> (option, problem, fix) of the first bad option, or None
OptionsCheck = Callable[[Options], Optional[Tuple[str, str, str]]]


@dataclasses.dataclass(frozen=True)
class Kind:
  """One kind of non-local module.

  Attributes:
    label: how tables name it.
    short: the study's variant prefix (`<short>16`: this kind at 16x16).
    build: makes the module; AN ignores `spectral` and the layer options.
    layer: the linen class that `option_names` are fields of.
    option_names: the fields a config sets, as `config.model.<options_field>.<name>`.
    options_field: that config group ('' when the kind has no options).
    inside_blocks: may also sit inside a residual block, after its first convolution.
    placement_problem: what a feature map must offer the module.
    options_problem: the ranges of its options.
  """

  label: str
  short: str
  build: Builder
  layer: type
  placement_problem: PlacementCheck
  option_names: Tuple[str, ...] = ()
  options_field: str = ""
  inside_blocks: bool = False
  options_problem: OptionsCheck = lambda options: None

  def defaults(self) -> dict[str, Any]:
    """The layer's defaults of `option_names`."""
    fields = {f.name: f for f in dataclasses.fields(self.layer)}
    return {name: fields[name].default for name in self.option_names}


def _channels_problem(channels: int) -> Optional[Tuple[str, str]]:
  if channels % 8:
    return (f"{channels} channels are not divisible by 8",
            "change the width/multipliers or the resolution")
  return None


def _key_positions_problem(options: Options, resolution: int) -> Optional[Tuple[str, str]]:
  """AN draws num_entities distinct keys per example from the pooled map."""
  positions = (resolution // options["key_pool"]) ** 2
  if options["sampling"] == "per_example" and positions < options["num_entities"]:
    return (f"at resolution {resolution} the pooled keys have {positions} positions, fewer "
            f"than an.num_entities={options['num_entities']}",
            "use a higher resolution, a smaller an.key_pool, or an.sampling='batch_shared'")
  return None


def _attentive_norm_options(options: Options) -> Optional[Tuple[str, str, str]]:
  checks = (
      ("num_entities", options["num_entities"] >= 1, "use a positive number (paper: 16)"),
      ("kappa", options["kappa"] > 0, "use a positive temperature divisor (paper: 10)"),
      ("key_pool", options["key_pool"] >= 1, "use 1 (no pooling) or a window such as 2"),
      ("eps", options["eps"] > 0, "use a small positive value such as 1e-5"))
  for name, ok, fix in checks:
    if not ok:
      return name, f"got {options[name]}", fix
  choices = (("sampling", ("per_example", "batch_shared")),
             ("orthogonal_form", ("frobenius", "released")))
  for name, allowed in choices:
    if options[name] not in allowed:
      return name, f"unknown {options[name]!r}", f"use one of {allowed}"
  return None


KINDS: Mapping[str, Kind] = {
    "self_attention": Kind(
        label="SA-GAN self-attention", short="sa", layer=SelfAttention,
        build=lambda options, spectral, dtype, name, layers: layers.self_attention(
            spectral, dtype, name),
        placement_problem=lambda options, resolution, channels: _channels_problem(channels)),
    "attentive_norm": Kind(
        label="AN", short="an", layer=AttentiveNorm,
        build=lambda options, spectral, dtype, name, layers: AttentiveNorm(
            **options, dtype=dtype, name=name),
        option_names=("num_entities", "kappa", "key_pool", "sampling", "affine", "eps",
                      "orthogonal_form"),
        options_field="an", inside_blocks=True,
        placement_problem=lambda options, resolution, channels: (
            _channels_problem(channels) or _key_positions_problem(options, resolution)),
        options_problem=_attentive_norm_options),
}


def names() -> Tuple[str, ...]:
  """Every value `kind` may take in a config."""
  return (NONE, *KINDS)


def default_options() -> dict[str, dict[str, Any]]:
  """{options_field: {option: default}} of every kind that has options: the config groups."""
  return {kind.options_field: kind.defaults() for kind in KINDS.values() if kind.option_names}


def kind_problem(name: str) -> Optional[Tuple[str, str]]:
  """(problem, fix) when `name` is no kind."""
  if name in names():
    return None
  return f"unknown kind {name!r}", f"use one of {names()}"


def options_from(name: str, model_config: Mapping[str, Any]) -> Options:
  """The options of kind `name` in a checked `config.model` (none for 'none')."""
  kind = KINDS.get(name)
  if kind is None or not kind.option_names:
    return Options({})
  group = model_config[kind.options_field]
  return Options({option: group[option] for option in kind.option_names})


def build(name: str, options: Options, spectral: bool, dtype: Any, module_name: str,
          layers: LayerOptions = LayerOptions()) -> nn.Module:
  """The module of kind `name`, called as `module(x, train)`."""
  if name not in KINDS:
    raise ValueError(f"No non-local module of kind {name!r}.")
  return KINDS[name].build(options, spectral, dtype, module_name, layers)
