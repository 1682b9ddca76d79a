"""The GAN task's evaluators, one module per `config.evals.<name>.type`.

  inception  FID and Inception Score in pytorch-fid's Inception network against real
             statistics; intra-FID too in eval.py when per-class statistics are given.
  shapes     the shipped symmetric_shapes classifier's metrics (Frechet distance, class
             accuracy, precision / recall / density / coverage, consistency error).

Each module follows `an_flax.runtime.evaluators` (`defaults`, `check`, `Evaluator`); an
`Evaluator` is built with the run's mesh and one shared `Sampler` of the generator
(`Context`) and is called during training with G_ema's variables, or asked for its full
`report` by eval.py. Adding one is adding a module here.
"""

import dataclasses
import importlib
from typing import Any, List, Sequence

import flax.linen as nn
import ml_collections
from jax.sharding import Mesh

from an_flax.evaluation import reference
from an_flax.evaluation.generate import Sampler, sampling_batch_size
from an_flax.runtime import evaluators

PACKAGE = __name__


@dataclasses.dataclass(frozen=True)
class Context:
  """What every evaluator of a run shares."""

  mesh: Mesh
  sampler: Sampler  # G in eval mode; with `sampling.truncation` in eval.py, none in training
  reference_command: str = reference.DEFAULT_COMMAND  # what writes missing statistics


def entry(type_name: str, **fields: Any) -> ml_collections.ConfigDict:
  """A `config.evals` entry of `type_name` with its defaults, `fields` overriding them:
  what config files write."""
  defaults = importlib.import_module(f"{PACKAGE}.{type_name}").defaults()
  return ml_collections.ConfigDict({"type": type_name, **defaults.to_dict(), **fields})


def check(config: ml_collections.ConfigDict) -> None:
  """Every entry of `config.evals` against its type (a ValueError names the field)."""
  evaluators.check_entries(config, PACKAGE)


def build(config: ml_collections.ConfigDict, mesh: Mesh, generator: nn.Module, training: bool,
          names: Sequence[str] | None = None,
          reference_command: str = reference.DEFAULT_COMMAND) -> List[Any]:
  """The checked entries' evaluators (see `an_flax.runtime.evaluators.build`), loading
  their files now: a missing one fails before anything is sampled or trained."""
  check(config)
  truncation = None if training else config.sampling.truncation
  sampler = Sampler(generator, mesh, sampling_batch_size(config), config.model.z_dim,
                    truncation)
  return evaluators.build(PACKAGE, config, Context(mesh, sampler, reference_command),
                          training, names)
