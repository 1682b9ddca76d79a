"""Evaluators: what scores a model every few steps, chosen by name from the config.

As in big_vision, `config.evals` maps names to entries, each with a `type`: the name of a
module in the task's evaluator package (the GAN task's: `an_flax.evaluation.evaluators`).
Such a module has
  defaults()      -> ml_collections.ConfigDict: the entry's fields with their types and
                     defaults (besides `type`), so a config is checked field by field;
  check(config, entry, field)   the checks between fields (`field` is
                     'evals.<name>', for messages);
  Evaluator(name, entry, config, context, training)   an object following `Evaluator`.
Adding an evaluator is adding its module: no registry to edit, no `if` anywhere. The
run builds every entry whose `every_steps` is positive and hands all of them the same
context (the mesh, and what the task shares, such as its generator).
"""

import importlib
import pkgutil
import types
from typing import Any, Dict, List, Protocol, Sequence

import ml_collections

from an_flax.runtime import config_checks

EVALS = "evals"  # the config field that holds the entries


class Evaluator(Protocol):
  """Scores a model's variables every `every_steps` steps and at the last step.

  Called on every process with the same variables; returns the same named scalars on
  every process.
  """

  every_steps: int

  def __call__(self, variables: Any) -> Dict[str, float]:
    ...


def module_of(package: str, entry: ml_collections.ConfigDict, field: str) -> types.ModuleType:
  """The module of an entry's `type`; a ValueError naming the field when there is none."""
  name = entry.get("type")
  try:
    return importlib.import_module(f"{package}.{name}")
  except ModuleNotFoundError as error:
    if error.name != f"{package}.{name}":
      raise
    raise ValueError(f"config.{field}.type: unknown evaluator {name!r}; use one of "
                     f"{available(package)}.") from None


def available(package: str) -> List[str]:
  """The evaluator types of `package`: its modules."""
  return sorted(info.name for info in pkgutil.iter_modules(
      importlib.import_module(package).__path__))


def check_entries(config: ml_collections.ConfigDict, package: str) -> None:
  """Every `config.evals.<name>` has exactly its type's fields, each of its type, and
  passes the type's own checks."""
  for name, entry in config[EVALS].items():
    field = f"{EVALS}.{name}"
    if not isinstance(entry, ml_collections.ConfigDict) or "type" not in entry:
      raise ValueError(f"config.{field}: an evaluator needs a `type` (one of "
                       f"{available(package)}).")
    module = module_of(package, entry, field)
    schema = config_checks.leaf_types(module.defaults(), prefix=f"{field}.")
    schema[f"{field}.type"] = (str,)
    config_checks.check_fields(entry, schema, prefix=f"{field}.")
    module.check(config, entry, field)


def build(package: str, config: ml_collections.ConfigDict, context: Any, training: bool,
          names: Sequence[str] | None = None) -> List[Evaluator]:
  """The evaluators of `config.evals` (those in `names`, or all of them), in name order.

  While training (`training=True`) an entry whose `every_steps` is 0 is left out.
  """
  evaluators = []
  for name in sorted(names if names is not None else config[EVALS]):
    entry = config[EVALS][name]
    if training and entry.every_steps <= 0:
      continue
    module = module_of(package, entry, f"{EVALS}.{name}")
    evaluators.append(module.Evaluator(name, entry, config, context, training))
  return evaluators


def due(evaluators: Sequence[Evaluator], step: int, last: bool) -> List[Evaluator]:
  """The evaluators to run after `step`: every `every_steps` steps, and all at the last."""
  return [e for e in evaluators if last or (e.every_steps > 0 and step % e.every_steps == 0)]
