"""Sample pictures and a sample file from a checkpoint alone (no dataset, no Inception).

`write_samples` fills `<workdir>/samples_<step>/` with:
  class_<c>.png     4 x 8 samples of class c, fresh z each.
  classes.png       one row per class, the same 8 z in every row: what the class changes.
  interp_z.png      one row per class: z interpolated linearly between two draws (as in
                    BigGAN's sheets), class fixed.
  interp_class.png  one row per pair of consecutive classes: z fixed, the class blended
                    from the first to the second. G's class-conditional parameters (the
                    CBN gains and biases) are embedding rows picked by the label, so
                    blending the rows of every class table is a soft label; the blends
                    are written into the first rows of the tables. Skipped for a model
                    without class tables.
  samples.npz       `images` uint8 (N, H, W, 3) and `labels` int32 (N,):
                    `sampling.num_npz_samples` samples with uniform labels, for external
                    tools; the same samples also as `x` uint8 (N, 3, H, W) and `y`, the
                    layout of BigGAN-PyTorch's `sample.py --sample_npz`, which its
                    `inception_tf13.py` reads (key `x`, NCHW). The file is twice the size.
  info.json         step, checkpoint, G_ema, standing statistics, truncation, seed.
G and z are those of `--mode=metrics` (G_ema, standing statistics, truncation).
"""

import json
from typing import Any, Optional, Sequence

import jax
import ml_collections
import numpy as np
from absl import logging
from etils import epath
from flax import traverse_util

from an_flax.evaluation.generate import Sampler, sample_z, sampling_batch_size, uniform_labels
from an_flax.evaluation.restore import restore_generator
from an_flax.runtime import mesh as mesh_lib, pictures, streams
from an_flax.runtime.workdir import join

SHEET_ROWS, SHEET_COLUMNS = 4, 8
INTERP_STEPS = 8
SHEET_CLASSES = 10  # classes shown when `sampling.sample_classes` is empty


def blend_class_tables(params: Any, num_classes: int, first: int, second: int,
                       weights: np.ndarray) -> Any:
  """`params` in which class k < len(weights) is (1 - w_k) * first + w_k * second in
  every class table (an 'embedding' with `num_classes` rows); None if there is none."""
  flat = traverse_util.flatten_dict(params)
  tables = [path for path, value in flat.items()
            if path[-1] == "embedding" and value.shape[0] == num_classes]
  if not tables:
    return None
  w = np.asarray(weights, np.float32)[:, None]
  for path in tables:
    table = flat[path]
    flat[path] = table.at[:len(w)].set((1 - w) * table[first] + w * table[second])
  return traverse_util.unflatten_dict(flat)


def write_samples(config: ml_collections.ConfigDict, workdir: str,
                  step: int | None = None) -> str:
  """Writes the pictures and files listed in the module docstring; returns their folder."""
  options = config.sampling
  mesh = mesh_lib.create_mesh()
  restored = restore_generator(config, workdir, mesh, step)
  z_dim, num_classes = config.model.z_dim, config.model.num_classes
  sampler = Sampler(restored.generator, mesh, sampling_batch_size(config), z_dim,
                    options.truncation)
  variables = restored.variables
  classes = list(options.sample_classes) or pictures.sample_classes(num_classes, SHEET_CLASSES)
  key = streams.key(config.seed, streams.Stream.SAMPLES)
  draw = lambda stream, num: np.asarray(
      sample_z(jax.random.fold_in(key, stream), num, z_dim, options.truncation))
  out = join(workdir, f"samples_{restored.step}")
  writer = jax.process_index() == 0  # every process draws every sample: one writes

  def write(name: str, images: np.ndarray, rows: int) -> None:
    if writer:
      pictures.write_png(join(out, name), pictures.grid(images, rows))

  per_sheet = SHEET_ROWS * SHEET_COLUMNS
  images = sampler.images(variables, draw(0, per_sheet * len(classes)),
                          np.repeat(classes, per_sheet))
  for c, sheet in zip(classes, np.split(images, len(classes))):
    write(f"class_{c}.png", sheet, SHEET_ROWS)
  fixed_z = np.tile(draw(1, SHEET_COLUMNS), (len(classes), 1))
  write("classes.png", sampler.images(variables, fixed_z, np.repeat(classes, SHEET_COLUMNS)),
        len(classes))

  weights = np.linspace(0.0, 1.0, min(INTERP_STEPS, num_classes), dtype=np.float32)
  ends = draw(2, 2 * len(classes)).reshape(len(classes), 2, 1, z_dim)
  z = ((1 - weights[:, None]) * ends[:, 0] + weights[:, None] * ends[:, 1]).reshape(-1, z_dim)
  write("interp_z.png", sampler.images(variables, z, np.repeat(classes, len(weights))),
        len(classes))
  blended = _class_interpolation(sampler, variables, classes, weights, draw(3, 1), num_classes)
  if blended is not None:
    write("interp_class.png", blended, len(classes) - 1)

  if options.num_npz_samples:
    labels = uniform_labels(options.num_npz_samples, num_classes, config.seed)
    stream = sampler.stream(variables, labels, jax.random.fold_in(key, 4), "samples.npz")
    images = np.concatenate([batch for batch, _ in stream])
    if writer:
      with (epath.Path(out) / "samples.npz").open("wb") as f:
        np.savez(f, images=images, labels=labels, x=images.transpose(0, 3, 1, 2), y=labels)
  if writer:
    (epath.Path(out) / "info.json").write_text(json.dumps({
        "step": restored.step, "checkpoint": restored.checkpoint,
        "generator": "G_ema" if restored.use_ema else "G",
        "standing_stats_batches": restored.standing_stats_batches,
        "truncation": options.truncation, "seed": config.seed,
        "classes": [int(c) for c in classes],
        "num_npz_samples": options.num_npz_samples}, indent=2))
  logging.info("Wrote samples of step %d to %s.", restored.step, out)
  return out


def _class_interpolation(sampler: Sampler, variables: Any, classes: Sequence[int],
                         weights: np.ndarray, z: np.ndarray, num_classes: int
                         ) -> Optional[np.ndarray]:
  """One row per consecutive pair of `classes`, z fixed, class tables blended; None when
  there is no pair or G has no class tables."""
  rows = []
  for first, second in zip(classes[:-1], classes[1:]):
    params = blend_class_tables(variables["params"], num_classes, first, second, weights)
    if params is None:
      logging.info("G has no class-embedding tables: no class interpolation.")
      return None
    rows.append(sampler.images({**variables, "params": params},
                               np.repeat(z, len(weights), axis=0),
                               np.arange(len(weights), dtype=np.int32)))
  return np.concatenate(rows) if rows else None
