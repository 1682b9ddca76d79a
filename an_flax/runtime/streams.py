"""Every random stream a config's seed feeds, named in one place.

Training draws from `training_key(seed)`: the GAN state splits it into G's, D's and the
step's keys, the inpainting state keeps it as its step key. The sample sheets drawn while
training use `picture_key(seed)`. Every other use folds a `Stream` number into the seed's
key, so each use has its own independent draws. The numbers are part of what a config
produces: changing one changes the scores of every run scored with it.
"""

import enum

import jax


class Stream(enum.IntEnum):
  """The independent streams folded into `PRNGKey(seed)`."""

  FID = 1  # eval.py: the samples of the Inception and DINOv2 metrics (and protocols)
  INTRA_FID = 2  # eval.py: the per-class samples of intra-FID
  STANDING_STATS = 3  # eval.py: latents of the standing-statistics passes
  TRAINING_FID = 4  # the in-training Inception and DINOv2 evaluators' fixed samples
  SHAPES = 5  # eval.py: the samples of the shapes metrics
  TRAINING_SHAPES = 6  # the in-training shapes evaluator's fixed samples
  SAMPLES = 7  # eval.py --mode=samples: sheets, interpolations, samples.npz


def training_key(seed: int) -> jax.Array:
  return jax.random.PRNGKey(seed)


def picture_key(seed: int) -> jax.Array:
  """The fixed noise of the sample sheets drawn while training."""
  return jax.random.PRNGKey(seed + 1)


def key(seed: int, stream: Stream) -> jax.Array:
  return jax.random.fold_in(jax.random.PRNGKey(seed), int(stream))
