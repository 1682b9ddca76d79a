"""The GAN task's evaluators, one module per `config.evals.<name>.type`.

  inception  FID, Inception Score, precision / recall / density / coverage and KID in
             pytorch-fid's Inception network (resize legacy, clean or friendly) against
             the real images; intra-FID too in eval.py when per-class statistics are given.
  dinov2     FD_DINOv2 (and precision / recall / density / coverage, KID) in DINOv2
             ViT-L/14 features, as dgm-eval computes it.
  shapes     the shipped symmetric_shapes classifier's metrics (Frechet distance, class
             accuracy, precision / recall / density / coverage, consistency error).

Each module follows `an_flax.runtime.evaluators` (`defaults`, `check`, `Evaluator`); an
`Evaluator` is built with the run's mesh and one shared `Sampler` of the generator
(`Context`) and is called during training with G_ema's variables, or asked for its full
`report` by eval.py. A type that scores in a feature network against a real split also has
`network(entry, field, mesh)` -> (FeatureNetwork, its record), in which `eval.py
--mode=reference` measures the split (`write_references`) and the inception and dinov2
evaluators share the rest (`an_flax.evaluation.feature_metrics`). Adding one is adding a
module here.
"""

import dataclasses
import importlib
from typing import Any, Dict, List, Sequence

import flax.linen as nn
import ml_collections
from jax.sharding import Mesh

from an_flax.evaluation import reference
from an_flax.evaluation.generate import Sampler, sampling_batch_size
from an_flax.runtime import evaluators, mesh as mesh_lib

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


def write_references(config: ml_collections.ConfigDict, names: Sequence[str]
                     ) -> List[Dict[str, Any]]:
  """eval.py --mode=reference: the reference files (statistics, per-class statistics,
  features: those each entry sets) of the entries `names` whose type has a feature
  network, each from one pass over its `reference_split`; returns their provenance."""
  mesh = mesh_lib.create_mesh()
  written = []
  for name in names:
    field, entry = f"{evaluators.EVALS}.{name}", config[evaluators.EVALS][name]
    module = evaluators.module_of(PACKAGE, entry, field)
    if hasattr(module, "network"):
      written.append(reference.compute_reference(config, entry, field,
                                                 *module.network(entry, field, mesh)))
  if not written:
    with_network = [t for t in evaluators.available(PACKAGE)
                    if hasattr(importlib.import_module(f"{PACKAGE}.{t}"), "network")]
    raise ValueError(f"--mode=reference writes the reference files of {with_network} "
                     f"evaluators; config.evals {list(names)} has none.")
  return written
