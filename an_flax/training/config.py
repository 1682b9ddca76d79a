"""The GAN task's config checks: every field known, typed and consistent, before compiling.

The fields, their types and defaults are those of `configs/base.py` (the schema, read by
`an_flax.runtime.config_checks`); this module adds the checks between fields. The
evaluator entries (`config.evals`) are checked by their own modules when they are built
(`an_flax.runtime.evaluators`).
"""

from typing import Any, Dict, Tuple

import jax
import ml_collections

from an_flax.models import Discriminator, Generator, build_models
from an_flax.runtime import evaluators, mesh as mesh_lib
from an_flax.runtime.config_checks import check, check_fields, schema_of
from an_flax.training import diffaug

SCHEMA = "configs/base.py"
_EVALS_ENTRY = "an evaluator entry config.evals.<name> (configs/base.py shows them)"
RENAMED = {
    "model.bn_axis_name": "config.model.per_device_bn (a boolean: True gives "
                          "per-device BatchNorm statistics, False global-batch ones)",
    **{f"eval.{name}": f"config.sampling.{name}" for name in (
        "batch_size", "use_ema", "standing_stats_batches", "truncation", "num_npz_samples",
        "sample_classes")},
    **{f"eval.{name}": f"the field {name} of {_EVALS_ENTRY} of type 'inception'" for name in (
        "inception_weights", "reference_stats", "reference_class_stats", "reference_split",
        "num_samples", "samples_per_class", "is_splits", "inception_size")},
    "eval.feature_network": f"the type of {_EVALS_ENTRY} ('inception' or 'shapes')",
    "eval.fid_every_steps": f"every_steps of {_EVALS_ENTRY} of type 'inception'",
    "eval.fid_num_samples": f"training_num_samples of {_EVALS_ENTRY} of type 'inception'",
    "eval.shapes_every_steps": f"every_steps of {_EVALS_ENTRY} of type 'shapes'",
    "eval.shapes_num_samples": f"num_samples of {_EVALS_ENTRY} of type 'shapes'",
}


def check_schema(config: ml_collections.ConfigDict) -> Dict[str, Any]:
  """Exactly the fields of `configs/base.py`, each of its type; returns them by name."""
  return check_fields(config, schema_of(SCHEMA), RENAMED,
                      checked_elsewhere=(evaluators.EVALS,))


def _check_keep_best(config: ml_collections.ConfigDict) -> None:
  fields = config.checkpoint
  check(fields.keep_best >= 0, "checkpoint.keep_best", "must be >= 0 (0: keep no best ones)")
  check(fields.best_mode in ("min", "max"), "checkpoint.best_mode",
        f"unknown {fields.best_mode!r}; use 'min' (lower is better) or 'max'")
  if not fields.keep_best:
    return
  name = fields.best_metric.split("/")[0]
  entry = config[evaluators.EVALS].get(name)
  check(entry is not None and entry.every_steps > 0, "checkpoint.best_metric",
        f"{fields.best_metric!r} must be a score an evaluator logs during training "
        f"('<name>/<metric>' with config.evals.<name>.every_steps > 0); config.evals "
        f"{name!r} {'is not run during training' if entry is not None else 'does not exist'}")
  check(fields.every_steps % entry.every_steps == 0, "checkpoint.best_metric",
        f"config.evals.{name}.every_steps={entry.every_steps} must divide "
        f"checkpoint.every_steps={fields.every_steps}, so every checkpoint is scored")


def _check_sampling(config: ml_collections.ConfigDict) -> None:
  sampling, devices = config.sampling, jax.device_count()
  size = sampling.batch_size or config.batch_size
  check(size >= 1 and size % devices == 0, "sampling.batch_size",
        f"{size} must be a positive multiple of the {devices} devices")
  check(sampling.standing_stats_batches >= 0, "sampling.standing_stats_batches", "must be >= 0")
  check(sampling.num_npz_samples >= 0, "sampling.num_npz_samples", "must be >= 0")
  check(sampling.truncation is None or sampling.truncation > 0, "sampling.truncation",
        f"{sampling.truncation} must be positive, or None for no truncation")
  num_classes = config.model.num_classes
  check(all(0 <= c < num_classes for c in sampling.sample_classes), "sampling.sample_classes",
        f"{tuple(sampling.sample_classes)} must lie in [0, model.num_classes={num_classes})")


def validate_config(config: ml_collections.ConfigDict, training: bool = True
                    ) -> Tuple[Generator, Discriminator]:
  """The networks of a valid config; a ValueError naming the first bad field. Needs the
  devices (after distributed init).

  `training=False` (evaluation) skips what only a training run needs: a training batch
  that divides over this machine's devices.
  """
  given = check_schema(config)

  check(config.model.resolution == config.dataset.image_size, "dataset.image_size",
        f"{config.dataset.image_size} differs from model.resolution={config.model.resolution}")
  check(config.batch_size >= 1, "batch_size", "must be positive")
  if training:
    mesh_lib.check_batch_size(config.batch_size, jax.device_count(), jax.process_count())
  check(config.num_train_steps >= 1, "num_train_steps", "must be positive")
  check(config.optim.d_steps >= 1, "optim.d_steps", "must be at least 1")
  check(config.optim.accumulation_steps >= 1, "optim.accumulation_steps",
        "must be at least 1 (1: no accumulation)")
  check(config.optim.lr_decay in ("none", "linear"), "optim.lr_decay",
        f"unknown {config.optim.lr_decay!r}; use 'none' or 'linear'")
  check(0 <= config.optim.decay_start < config.num_train_steps, "optim.decay_start",
        "must lie in [0, num_train_steps)")
  for field in ("optim.g_lr", "optim.d_lr", "optim.eps"):
    check(given[field] > 0, field, "must be positive")
  for field in ("optim.b1", "optim.b2", "ema.decay"):
    check(0.0 <= given[field] < 1.0, field, "must lie in [0, 1)")
  for field in ("loss.orthogonal_weight", "optim.g_ortho", "loss.lecam_lambda",
                "loss.lecam_ema_start_iter"):
    check(given[field] >= 0, field, "must be >= 0")
  check(0.0 <= config.loss.lecam_ema_decay < 1.0, "loss.lecam_ema_decay", "must lie in [0, 1)")
  try:
    diffaug.parse_policy(config.augment.diffaug_policy)
  except ValueError as error:
    raise ValueError(f"config.augment.diffaug_policy: {error}") from error
  check(config.ema.start_step >= 0, "ema.start_step", "must be >= 0")
  for field in ("checkpoint.every_steps", "checkpoint.keep", "log_every_steps"):
    check(given[field] >= 1, field, "must be at least 1")
  for field in ("sample_every_steps", "layout_every_steps", "profile.first_step"):
    check(given[field] >= 0, field, "must be >= 0 (0: off)")
  check(config.profile.num_steps >= 1, "profile.num_steps", "must be at least 1")
  _check_sampling(config)
  _check_keep_best(config)
  try:
    return build_models(config.model)  # checks the model fields and their consistency
  except ValueError as error:
    raise ValueError(f"config.{error}") from error
