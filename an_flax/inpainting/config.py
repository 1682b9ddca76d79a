"""Inpainting config validation: every field known, typed and consistent, before compiling.

The fields, their types and defaults are those of `configs/inpainting/base.py`
(the schema, read by `an_flax.runtime.config_checks`); this module adds the checks
between fields.
"""

import itertools
import os

import jax
import ml_collections

from an_flax.data import masks as masks_lib
from an_flax.models import non_local
from an_flax.runtime import mesh as mesh_lib
from an_flax.runtime.config_checks import check, check_fields, schema_of

SCHEMA = "configs/inpainting/base.py"
MASK_KINDS = ("rectangle", "free_form")
MIN_IMAGE_SIZE = 16
RENAMED = {"model.num_entities": "config.model.an.num_entities (every AN option is in "
                                 "config.model.an)"}


def min_image_size(config: ml_collections.ConfigDict) -> int:
  """The smallest image side whose 1/4-resolution map the non-local module fits (and 16)."""
  kind = non_local.KINDS.get(config.model.non_local)
  if kind is None:
    return MIN_IMAGE_SIZE
  options = non_local.options_from(config.model.non_local, config.model)
  return next(size for size in itertools.count(MIN_IMAGE_SIZE, 4)
              if kind.placement_problem(options, size // 4, 8) is None)


def _non_local_options(config: ml_collections.ConfigDict) -> non_local.Options:
  """The module's options, checked."""
  options = non_local.options_from(config.model.non_local, config.model)
  kind = non_local.KINDS.get(config.model.non_local)
  bad_option = kind and kind.options_problem(options)
  if bad_option:
    option, problem, fix = bad_option
    check(False, f"model.{kind.options_field}.{option}", f"{problem}; {fix}")
  return options


def validate_config(config: ml_collections.ConfigDict, training: bool = True) -> None:
  """Raises ValueError naming the first bad field.

  With `training`, also FileNotFoundError when the ID-MRF loss is on and its
  VGG19 weights file is missing (evaluation and inpainting do not need it).
  """
  given = check_fields(config, schema_of(SCHEMA), RENAMED)

  check(config.task == "inpainting", "task", f"{config.task!r} is not 'inpainting'")
  size = config.dataset.image_size
  check(size % 4 == 0, "dataset.image_size", f"{size} is not a multiple of 4")
  unknown = non_local.kind_problem(config.model.non_local)
  if unknown:
    check(False, "model.non_local", "; ".join(unknown))
  options = _non_local_options(config)
  check(size >= min_image_size(config), "dataset.image_size",
        f"{size} is below {min_image_size(config)}, the smallest size whose 1/4-resolution "
        f"map holds model.non_local={config.model.non_local!r} with its options")
  check(config.model.width >= 2, "model.width", "must be at least 2")
  kind = non_local.KINDS.get(config.model.non_local)
  problem = kind and kind.placement_problem(options, size // 4, 4 * config.model.width)
  if problem:
    check(False, "model.width", f"the non-local module sees 4 * width channels: "
          f"{'; '.join(problem)}")
  check(config.model.critic_width >= 1, "model.critic_width", "must be positive")
  check(config.masks.kind in MASK_KINDS, "masks.kind",
        f"unknown {config.masks.kind!r}; use one of {MASK_KINDS}")
  masks_lib.hole_box_size((size, size), config.masks.kind)
  for field in ("batch_size", "eval.batch_size"):
    check(given[field] >= 1, field, "must be positive")
    mesh_lib.check_batch_size(given[field], jax.device_count(), jax.process_count())
  check(config.num_train_steps >= 1, "num_train_steps", "must be positive")
  check(config.optim.lr > 0, "optim.lr", "must be positive")
  check(config.optim.critic_steps >= 1, "optim.critic_steps", "must be at least 1")
  for field in ("optim.b1", "optim.b2"):
    check(0.0 <= given[field] < 1.0, field, "must lie in [0, 1)")
  for field in config.loss:
    if field not in ("discount_gamma", "vgg19_weights"):
      check(config.loss[field] >= 0, f"loss.{field}", "must be >= 0")
  check(0.0 < config.loss.discount_gamma <= 1.0, "loss.discount_gamma", "must lie in (0, 1]")
  for field in ("checkpoint.every_steps", "checkpoint.keep", "log_every_steps"):
    check(given[field] >= 1, field, "must be at least 1")
  check(config.picture_every_steps >= 0, "picture_every_steps", "must be >= 0 (0: off)")
  check(config.profile.first_step >= 0, "profile.first_step", "must be >= 0 (0: off)")
  check(config.profile.num_steps >= 1, "profile.num_steps", "must be at least 1")
  check(config.eval.num_examples >= 0, "eval.num_examples", "must be >= 0 (0: all)")
  if training and config.loss.id_mrf_weight > 0 and not os.path.isfile(config.loss.vgg19_weights):
    raise FileNotFoundError(
        f"config.loss.id_mrf_weight={config.loss.id_mrf_weight} needs VGG19 weights, but "
        f"config.loss.vgg19_weights={config.loss.vgg19_weights!r} is not a file. Provide an "
        ".npz of torchvision's vgg19 state dict (features.<i>.weight/bias; conversion in "
        "an_flax/inpainting/vgg19.py), or set config.loss.id_mrf_weight=0. "
        "Nothing is downloaded.")
