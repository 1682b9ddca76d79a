"""Config validation: every field known, typed and consistent, before anything compiles.

Command-line overrides of unknown keys are already rejected by ml_collections;
this also catches unknown or missing fields in config files and values of
the wrong type or out of range. Each error names the field.
"""

from typing import Any, Dict, Tuple

import jax
import ml_collections

from an_flax.models import build_models
from an_flax.training import mesh as mesh_lib

NoneType = type(None)
_NONLOCAL = {"kind": str, "resolutions": tuple, "inside_blocks": bool}

# Field -> accepted types (a float field accepts ints). Nested dicts are sub-configs.
SCHEMA: Dict[str, Any] = {
    "seed": int, "batch_size": int, "num_train_steps": int,
    "dataset": {"name": str, "data_dir": (str, NoneType), "manual_dir": (str, NoneType),
                "image_size": int, "cache": bool, "split": str, "shuffle_buffer": int},
    "model": {
        "resolution": int, "num_classes": int, "z_dim": int, "g_ch": int, "d_ch": int,
        "g_multipliers": tuple, "d_multipliers": tuple, "g_spectral_norm": bool,
        "g_nonlocal": _NONLOCAL, "d_nonlocal": _NONLOCAL,
        "an": {"num_entities": int, "kappa": float, "key_pool": int, "sampling": str,
               "affine": bool, "eps": float, "orthogonal_form": str},
        "dtype": str, "bn_axis_name": (str, NoneType),
    },
    "optim": {"g_lr": float, "d_lr": float, "b1": float, "b2": float, "d_steps": int,
              "lr_decay": str, "decay_start": int},
    "loss": {"orthogonal_weight": float},
    "ema": {"decay": float, "start_step": int},
    "checkpoint": {"every_steps": int, "keep": int},
    "log_every_steps": int, "sample_every_steps": int, "layout_every_steps": int,
    "eval": {"inception_weights": str, "reference_stats": str, "reference_class_stats": str,
             "reference_split": str, "num_samples": int, "samples_per_class": int,
             "is_splits": int, "batch_size": (int, NoneType), "use_ema": bool,
             "standing_stats_batches": int, "truncation": (float, NoneType),
             "fid_every_steps": int, "fid_num_samples": int, "num_npz_samples": int,
             "sample_classes": tuple, "inception_size": int},
}
# Fields that may be left out (the model picks a default).
OPTIONAL_FIELDS = {"model.d_final_resolution": (int, NoneType)}


def _flatten(schema: Dict[str, Any], prefix: str = "") -> Dict[str, Any]:
  flat = {}
  for key, value in schema.items():
    if isinstance(value, dict):
      flat.update(_flatten(value, f"{prefix}{key}."))
    else:
      flat[prefix + key] = value if isinstance(value, tuple) else (value,)
  return flat


def _leaves(config: ml_collections.ConfigDict, prefix: str = "") -> Dict[str, Any]:
  leaves = {}
  for key, value in config.items():
    if isinstance(value, ml_collections.ConfigDict):
      leaves.update(_leaves(value, f"{prefix}{key}."))
    else:
      leaves[prefix + key] = value
  return leaves


def _type_ok(value: Any, types: Tuple[type, ...]) -> bool:
  if isinstance(value, bool):
    return bool in types
  if isinstance(value, int) and float in types:
    return True
  if isinstance(value, list):
    return tuple in types
  return isinstance(value, types)


def check(ok: bool, field: str, problem: str) -> None:
  """Raises `ValueError("config.<field>: <problem>.")` unless `ok`."""
  if not ok:
    raise ValueError(f"config.{field}: {problem}.")


def check_fields(config: ml_collections.ConfigDict, schema: Dict[str, Any],
                 optional: Dict[str, Any] | None = None) -> Dict[str, Any]:
  """Checks that `config` has exactly the fields of `schema` (plus any of `optional`,
  dotted name -> types), each of its type. Returns the fields by dotted name."""
  required = _flatten(schema)
  expected = {**required, **(optional or {})}
  given = _leaves(config)
  for field in sorted(given.keys() - expected.keys()):
    check(False, field, "unknown field (misspelt, or not used by this task)")
  for field in sorted(required.keys() - given.keys()):
    check(False, field, "missing")
  for field, value in given.items():
    types = expected[field]
    check(_type_ok(value, types), field, f"{value!r} is not of type "
          f"{' or '.join(t.__name__ for t in types)}")
  return given


def validate_config(config: ml_collections.ConfigDict) -> None:
  """Raises ValueError naming the first bad field. Needs the devices (after distributed init)."""
  given = check_fields(config, SCHEMA, OPTIONAL_FIELDS)

  check(config.model.resolution == config.dataset.image_size, "dataset.image_size",
         f"{config.dataset.image_size} differs from model.resolution={config.model.resolution}")
  check(config.batch_size >= 1, "batch_size", "must be positive")
  mesh_lib.check_batch_size(config.batch_size, jax.device_count(), jax.process_count())
  check(config.num_train_steps >= 1, "num_train_steps", "must be positive")
  check(config.optim.d_steps >= 1, "optim.d_steps", "must be at least 1")
  check(config.optim.lr_decay in ("none", "linear"), "optim.lr_decay",
         f"unknown {config.optim.lr_decay!r}; use 'none' or 'linear'")
  check(0 <= config.optim.decay_start < config.num_train_steps, "optim.decay_start",
         "must lie in [0, num_train_steps)")
  for field in ("optim.g_lr", "optim.d_lr"):
    check(given[field] > 0, field, "must be positive")
  for field in ("optim.b1", "optim.b2", "ema.decay"):
    check(0.0 <= given[field] < 1.0, field, "must lie in [0, 1)")
  check(config.loss.orthogonal_weight >= 0, "loss.orthogonal_weight", "must be >= 0")
  check(config.ema.start_step >= 0, "ema.start_step", "must be >= 0")
  for field in ("checkpoint.every_steps", "checkpoint.keep", "log_every_steps"):
    check(given[field] >= 1, field, "must be at least 1")
  for field in ("sample_every_steps", "layout_every_steps", "eval.fid_every_steps"):
    check(given[field] >= 0, field, "must be >= 0 (0: off)")
  try:
    build_models(config.model)  # checks the model fields and their consistency
  except ValueError as error:
    raise ValueError(f"config.{error}") from error
  mesh_lib.create_mesh(config.model.bn_axis_name)  # checks bn_axis_name against the mesh
