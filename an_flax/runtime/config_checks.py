"""Config checks shared by the tasks: a schema read off a task's base config file.

Each task declares its fields, types and defaults once, in its readable base config
(`configs/base.py`, `configs/inpainting/base.py`); every other config of the task starts
from it and overrides fields. The schema is derived from it: a field's type is its
default's type (`ml_collections` placeholders give the type of a field whose default is
None, which then also accepts None), and a config must have exactly the base's fields
(groups checked elsewhere, such as the evaluator entries, aside). Command-line overrides are type-checked by ml_collections already; config files
are checked here. Every error names the field.
"""

import functools
import importlib.util
import os
from typing import Any, Dict, Mapping, Tuple

import ml_collections

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
Schema = Dict[str, Tuple[type, ...]]  # dotted field -> accepted types


def check(ok: bool, field: str, problem: str) -> None:
  """Raises `ValueError("config.<field>: <problem>.")` unless `ok`."""
  if not ok:
    raise ValueError(f"config.{field}: {problem}.")


def leaves(config: ml_collections.ConfigDict, prefix: str = "") -> Dict[str, Any]:
  """{dotted field: value} of every non-ConfigDict field."""
  found = {}
  for key, value in config.items():
    if isinstance(value, ml_collections.ConfigDict):
      found.update(leaves(value, f"{prefix}{key}."))
    else:
      found[prefix + key] = value
  return found


def leaf_types(config: ml_collections.ConfigDict, prefix: str = "") -> Schema:
  """The schema a default config declares: {dotted field: accepted types}."""
  schema = {}
  for key, value in config.items():
    if isinstance(value, ml_collections.ConfigDict):
      schema.update(leaf_types(value, f"{prefix}{key}."))
      continue
    declared = config.get_type(key)
    if declared is type(None):
      raise TypeError(f"Default config field {prefix}{key} is None without a type: declare "
                      "it with ml_collections.config_dict.placeholder(<type>).")
    schema[prefix + key] = (declared,) + ((type(None),) if value is None else ())
  return schema


@functools.cache
def schema_of(default_config_file: str) -> Schema:
  """The schema declared by a base config file (path relative to the repository)."""
  path = os.path.join(REPO_ROOT, default_config_file)
  spec = importlib.util.spec_from_file_location("default_config", path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return leaf_types(module.get_config())


def _type_ok(value: Any, types: Tuple[type, ...]) -> bool:
  if isinstance(value, bool):
    return bool in types
  if isinstance(value, int) and float in types:
    return True
  if isinstance(value, list):
    return tuple in types
  return isinstance(value, types)


def check_fields(config: ml_collections.ConfigDict, schema: Schema,
                 renamed: Mapping[str, str] | None = None, prefix: str = "",
                 checked_elsewhere: Tuple[str, ...] = ()) -> Dict[str, Any]:
  """Checks that `config` has exactly the fields of `schema`, each of its type.

  `renamed` maps retired fields to what replaced them, for a precise error. `prefix` is
  where `config` sits in the whole config (for messages); fields under the groups
  `checked_elsewhere` are left to their own checks. Returns the fields by dotted name.
  """
  outside = lambda field: not any(field.startswith(group + ".") for group in checked_elsewhere)
  given = {field: value for field, value in leaves(config, prefix).items() if outside(field)}
  schema = {field: types for field, types in schema.items() if outside(field)}
  for field in sorted(given.keys() - schema.keys()):
    if renamed and field in renamed:
      check(False, field, f"was replaced by {renamed[field]}")
    check(False, field, "unknown field (misspelt, or not used by this task)")
  for field in sorted(schema.keys() - given.keys()):
    check(False, field, "missing")
  for field, value in given.items():
    types = schema[field]
    check(_type_ok(value, types), field, f"{value!r} is not of type "
          f"{' or '.join(t.__name__ for t in types)}")
  return given
