"""FD_DINOv2 (Stein et al., NeurIPS 2023; dgm-eval's Frechet distance in DINOv2 ViT-L/14
features), and precision / recall / density / coverage and KID in the same features.

The shared part (`an_flax.evaluation.feature_metrics`) in DINOv2's features on dgm-eval's
input path (PIL bicubic to 224x224, ImageNet normalisation): in training logged as
`<name>/fd_dinov2` (and `<name>/precision`, ..., `<name>/kid`); in eval.py with every
protocol choice in the report. The samples are the inception evaluator's (same z and
labels), so FID and FD_DINOv2 of one run score the same images. The weights are DINOv2's
`dinov2_vitl14_pretrain.pth` converted once (`python -m
an_flax.metrics.convert_dinov2_weights`); nothing is downloaded.
"""

from typing import Any, Dict, Tuple

import ml_collections
from jax.sharding import Mesh

from an_flax.evaluation import feature_metrics, reference
from an_flax.metrics import networks
from an_flax.metrics.dinov2 import INPUT_SIZE

METRICS = ("fd_dinov2", "prdc", "kid")


def defaults() -> ml_collections.ConfigDict:
  return ml_collections.ConfigDict(dict(
      **feature_metrics.defaults(("fd_dinov2",)),
      weights="",  # converted DINOv2 ViT-L/14 weights (.npz): docs/evaluation.md
  ))


def check(config: ml_collections.ConfigDict, entry: ml_collections.ConfigDict,
          field: str) -> None:
  del config
  feature_metrics.check(entry, field, METRICS)


def network(entry: ml_collections.ConfigDict, field: str, mesh: Mesh
            ) -> Tuple[networks.FeatureNetwork, Dict[str, Any]]:
  """DINOv2 ViT-L/14 on dgm-eval's input path, and its `network_record`."""
  built = networks.dinov2(entry.weights, mesh=mesh, field=f"config.{field}.weights")
  return built, reference.network_record(built, entry.weights, INPUT_SIZE)


class Evaluator(feature_metrics.FeatureEvaluator):
  """The shared evaluator in DINOv2's features."""

  type_name = "dinov2"

  def __init__(self, name: str, entry: ml_collections.ConfigDict,
               config: ml_collections.ConfigDict, context: Any, training: bool):
    super().__init__(name, entry, config, context, training,
                     *network(entry, f"evals.{name}", context.mesh))
