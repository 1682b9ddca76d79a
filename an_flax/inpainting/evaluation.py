"""`evaluate`: PSNR, SSIM and L1 of the newest checkpoint on a held-out split, fixed holes.

Protocol (also written into the JSON): every example of `dataset.eval_split`
(or its first `eval.num_examples`), centre-cropped and resized to
`dataset.image_size`; holes are the centred box of half the image side, and,
with `eval.free_form`, free-form strokes fixed by `eval.mask_seed` and
`eval.batch_size`. The generator runs in eval mode (no AN self-sampling);
scores compare the composite refined * mask + input * (1 - mask) with the
ground truth over the whole image, per image, after quantising to uint8, and
are averaged over images (`an_flax.metrics.image_quality`).
"""

import json
from typing import Any, Dict, Tuple

import jax
import ml_collections
import numpy as np
from absl import logging
from etils import epath
from jax.experimental import multihost_utils
from jax.sharding import Mesh

from an_flax.data import masks as masks_lib
from an_flax.data import input_pipeline
from an_flax.inpainting import steps
from an_flax.inpainting.config import validate_config
from an_flax.inpainting.task import PICTURE_ROWS, picture
from an_flax.metrics.image_quality import image_quality
from an_flax.runtime import checkpoints, mesh as mesh_lib, pictures
from an_flax.runtime.workdir import absolute, join

_free_form = jax.jit(masks_lib.free_form, static_argnums=(1, 2))


def _local_holes(kind: str, config: ml_collections.ConfigDict, batch_index: int) -> np.ndarray:
  """This process's rows of the global batch's holes, a function of the batch index."""
  size, batch_size = steps.image_size(config), config.eval.batch_size
  if kind == "centered":
    holes = masks_lib.centered_rectangles(batch_size, size)[0]
  else:
    key = jax.random.fold_in(jax.random.PRNGKey(config.eval.mask_seed), batch_index)
    holes = _free_form(key, batch_size, size)
  rows = batch_size // jax.process_count()
  return np.asarray(holes)[jax.process_index() * rows:(jax.process_index() + 1) * rows]


def restore_newest(config: ml_collections.ConfigDict, workdir: str, mesh: Mesh
                   ) -> Tuple[steps.InpaintingState, Any]:
  """(state, generator) of the newest readable checkpoint, read-only: creates nothing.

  FileNotFoundError if the workdir holds no checkpoint.
  """
  generator, critics = steps.build_models(config)
  g_tx, d_tx = steps.make_optimizers(config)
  abstract = checkpoints.abstract_state(
      lambda key: steps.create_state(config, generator, critics, g_tx, d_tx, key), mesh)
  state, _, _ = checkpoints.restore_for_reading(
      workdir, config, abstract, None,
      f"Train first with `python inpaint.py train --config ... --workdir {workdir}`, or "
      "point --workdir at a trained run.")
  return state, generator


def evaluate(config: ml_collections.ConfigDict, workdir: str) -> Dict:
  """Scores the newest checkpoint; writes `<workdir>/eval/step_<step>.json` and pictures."""
  validate_config(config, training=False)
  mesh = mesh_lib.create_mesh()
  state, generator = restore_newest(config, workdir, mesh)
  step = int(mesh_lib.to_host(state.step))
  inpaint = steps.make_inpaint_fn(generator, mesh)
  kinds = ("centered", "free_form") if config.eval.free_form else ("centered",)
  scores = {kind: {"psnr": [], "ssim": [], "l1": []} for kind in kinds}
  out_dir = join(workdir, "eval")
  eval_batches = input_pipeline.create_eval_dataset(
      config, config.dataset.eval_split, config.eval.batch_size, config.eval.num_examples,
      global_order=True)
  for index, local in enumerate(eval_batches):
    batch = mesh_lib.global_batch({"image": local["image"], "valid": local["mask"]}, mesh)
    for kind in kinds:
      holes = mesh_lib.global_batch({"mask": _local_holes(kind, config, index)}, mesh)["mask"]
      outputs = inpaint(state.g_params, batch["image"], holes)
      result = multihost_utils.process_allgather(
          {**image_quality(outputs["composite"], batch["image"]), "valid": batch["valid"]},
          tiled=True)
      for name in scores[kind]:
        scores[kind][name].extend(np.asarray(result[name])[np.asarray(result["valid"])].tolist())
      if index == 0:  # a collective: every process takes part, process 0 writes
        shown = multihost_utils.process_allgather({**outputs, "truth": batch["image"]}, tiled=True)
        if jax.process_index() == 0:
          shown = {k: v[:PICTURE_ROWS] for k, v in shown.items()}
          pictures.write_png(join(out_dir, f"step_{step:06d}_{kind}.png"),
                              picture(shown, shown.pop("truth")))

  results = {kind: {name: float(np.mean(values)) for name, values in metric.items()}
             for kind, metric in scores.items()}
  report = {
      "step": step, "workdir": absolute(workdir), "results": results,
      "protocol": {
          "dataset": config.dataset.name, "data_dir": config.dataset.data_dir,
          "split": config.dataset.eval_split,
          "num_examples": len(next(iter(scores.values()))["psnr"]),
          "image_size": config.dataset.image_size, "non_local": config.model.non_local,
          "holes": {"centered": f"centred box {masks_lib.default_hole_size(steps.image_size(config))}",
                    **({"free_form": f"free-form strokes, seed {config.eval.mask_seed}, "
                                     f"batch {config.eval.batch_size}"}
                       if config.eval.free_form else {})},
          "scored_image": "composite = refined * mask + input * (1 - mask), whole image",
          "quantisation": "uint8, round half up (as a PNG)",
          "psnr": "10 log10(255^2 / MSE) per image, averaged",
          "ssim": "Gaussian window 11, sigma 1.5, K1 0.01, K2 0.03, population covariance, "
                  "data_range 255, valid region, channel mean (= skimage structural_similarity"
                  "(gaussian_weights=True, sigma=1.5, use_sample_covariance=False, "
                  "data_range=255, channel_axis=-1)), averaged over images",
          "l1": "mean |composite - truth| on [0, 1] values, averaged over images",
          "generator_mode": "eval (AN self-sampling off)",
      },
  }
  if jax.process_index() == 0:
    path = epath.Path(out_dir) / f"step_{step:06d}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2))
    logging.info("Evaluation of step %d: %s -> %s", step, results, path)
  return report
