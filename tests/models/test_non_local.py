"""The registry of non-local modules: its entries, and that one entry is all a new kind needs."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import pytest

from an_flax.inpainting import config as inpainting_config, steps as inpainting_steps
from an_flax.layers import AttentiveNorm
from an_flax.models import build_models, non_local
from an_flax.runtime import config_checks
from an_flax.training.config import validate_config
from benchmarks import nonlocal_study
from configs import default
from configs.inpainting import inpaint_default


class _Gate(nn.Module):
  """A toy non-local module with one option: x * (1 + g), g learned from `start`."""

  start: float = 0.5

  @nn.compact
  def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
    del train
    return x * (1.0 + self.param("g", nn.initializers.constant(self.start), ()))


_GATE = non_local.Kind(
    label="gate", short="gate", layer=_Gate,
    build=lambda options, spectral, dtype, name, layers: _Gate(**options, name=name),
    placement_problem=lambda options, resolution, channels: None,
    option_names=("start",), options_field="gate")


@pytest.fixture
def gate_registered(monkeypatch):
  """The toy kind in the registry, and the configs' schemas read afresh with it."""
  monkeypatch.setitem(non_local.KINDS, "gate", _GATE)
  config_checks.schema_of.cache_clear()
  yield
  config_checks.schema_of.cache_clear()


def test_an_options_and_their_defaults_are_the_layer_s():
  kind = non_local.KINDS["attentive_norm"]
  assert kind.defaults() == {name: getattr(AttentiveNorm(), name) for name in kind.option_names}
  assert non_local.default_options() == {"an": kind.defaults()}
  assert dict(default.get_config().model.an) == kind.defaults()
  assert dict(inpaint_default.get_config().model.an) == kind.defaults()


def test_an_placement_needs_enough_key_positions_and_channels():
  options = non_local.Options(non_local.KINDS["attentive_norm"].defaults())
  place = non_local.KINDS["attentive_norm"].placement_problem
  assert place(options, 8, 64) is None  # (8 / 2)^2 = 16 pooled positions for 16 entities
  assert "4 positions" in place(options, 4, 64)[0]
  assert "not divisible by 8" in place(options, 8, 12)[0]
  assert place(options.copy({"sampling": "batch_shared"}), 4, 64) is None


def test_a_new_kind_needs_only_its_layer_and_its_entry(gate_registered):
  """With nothing but the entry, both tasks' configs take the kind and its options, both
  networks place it, and the study names its variants."""
  config = default.get_config()
  assert config.model.gate.start == 0.5  # the layer's default, in the schema
  config.model.g_nonlocal.kind = "gate"
  config.model.gate.start = 0.25
  validate_config(config)
  generator, _ = build_models(config.model)
  variables = jax.eval_shape(generator.init, jax.random.PRNGKey(0),
                             jnp.zeros((1, config.model.z_dim)), jnp.zeros((1,), jnp.int32))
  assert "g" in variables["params"]["nonlocal16"]

  inpainting = inpaint_default.get_config()
  inpainting.model.non_local = "gate"
  inpainting_config.validate_config(inpainting)
  inpainting_generator, _ = inpainting_steps.build_models(inpainting)
  size = inpainting.dataset.image_size
  params = inpainting_generator.init(jax.random.PRNGKey(0), jnp.zeros((1, size, size, 3)),
                                     jnp.zeros((1, size, size, 1)))["params"]
  assert float(params["non_local_branch"]["gate"]["g"]) == 0.5

  variant = nonlocal_study.parse_variant("gate16")
  assert variant.label == "gate at 16x16"
  assert variant.g == ("gate", (16,), False) and variant.d == ("gate", (16,), False)


def test_unknown_kind_is_named_with_the_kinds_there_are():
  config = default.get_config()
  config.model.d_nonlocal.kind = "transformer"
  with pytest.raises(ValueError, match=r"model\.d_nonlocal\.kind: unknown kind 'transformer'; "
                                       r"use one of \('none', 'self_attention'"):
    validate_config(config)
