"""The `config.eval` fields evaluation reads, with their defaults, checked in one place.

Fields are read with `config.eval.get(name, default)`, so a config that predates a field
still works; every check raises a ValueError naming the field.
"""

import dataclasses
from typing import Optional, Tuple

import jax
import ml_collections

from an_flax.metrics.inception import MIN_INPUT_SIZE
from an_flax.metrics.preprocess import INCEPTION_SIZE


@dataclasses.dataclass(frozen=True)
class EvalOptions:
  """Evaluation protocol and file locations (defaults: the published ImageNet protocol).

  Unknown `config.eval` fields are errors, so a misspelt field cannot silently leave a
  default in place.

  Attributes:
    inception_weights: converted FID Inception `.npz` (see an_flax.metrics).
    reference_stats: real-image statistics `.npz` (`mu`, `sigma`), written by
      `eval.py --mode=reference`, or pytorch-fid's.
    reference_class_stats: per-class statistics `.npz`; intra-FID runs only when set.
    reference_split: TFDS split the reference statistics are computed from.
    num_samples: generated samples for FID and IS.
    samples_per_class: generated samples per class for intra-FID.
    is_splits: Inception Score splits.
    batch_size: global sampling / Inception batch; None: `config.batch_size`.
    use_ema: evaluate G_ema (else the raw G).
    standing_stats_batches: train-mode passes re-estimating G's BatchNorm statistics
      (BigGAN's standing statistics; 0: off, BigGAN uses 16).
    truncation: |z| bound, out-of-range entries resampled (None: plain N(0, I)).
    fid_every_steps: periodic FID during training (0: off).
    fid_num_samples: samples for that periodic FID.
    num_npz_samples: samples written to `samples.npz` by `--mode=samples`.
    sample_classes: classes of the sample sheets (empty: 10 evenly spaced).
    inception_size: Inception input side. 299 is the protocol; smaller only for tests.
  """

  inception_weights: str = ""
  reference_stats: str = ""
  reference_class_stats: str = ""
  reference_split: str = "train"
  num_samples: int = 50_000
  samples_per_class: int = 5_000
  is_splits: int = 10
  batch_size: Optional[int] = None
  use_ema: bool = True
  standing_stats_batches: int = 0
  truncation: Optional[float] = None
  fid_every_steps: int = 0
  fid_num_samples: int = 5_000
  num_npz_samples: int = 10_000
  sample_classes: Tuple[int, ...] = ()
  inception_size: int = INCEPTION_SIZE

  @classmethod
  def from_config(cls, config: ml_collections.ConfigDict) -> "EvalOptions":
    """Reads `config.eval` (missing fields take the defaults above) and checks it."""
    given = config.get("eval") or ml_collections.ConfigDict()
    names = [f.name for f in dataclasses.fields(cls)]
    for name in sorted(set(given.keys()) - set(names)):
      _require(False, name, "unknown field (misspelt, or not read by the evaluation)")
    values = {f.name: given.get(f.name, f.default) for f in dataclasses.fields(cls)}
    values["sample_classes"] = tuple(int(c) for c in values["sample_classes"])
    if values["batch_size"] is None:
      values["batch_size"] = config.batch_size
    options = cls(**values)
    options.check(config.model.num_classes)
    return options

  def check(self, num_classes: int) -> None:
    devices = jax.device_count()
    _require(self.batch_size >= 1 and self.batch_size % devices == 0, "batch_size",
             f"{self.batch_size} must be a positive multiple of the {devices} devices")
    _require(self.num_samples >= max(2, self.is_splits), "num_samples",
             f"{self.num_samples} must be at least 2 and at least is_splits={self.is_splits}")
    _require(self.is_splits >= 1, "is_splits", "must be at least 1")
    _require(self.samples_per_class >= 2, "samples_per_class",
             "must be at least 2 (a covariance needs two samples)")
    _require(self.fid_num_samples >= max(2, self.is_splits), "fid_num_samples",
             f"{self.fid_num_samples} must be at least 2 and at least is_splits")
    _require(self.standing_stats_batches >= 0, "standing_stats_batches", "must be >= 0")
    _require(self.fid_every_steps >= 0, "fid_every_steps", "must be >= 0 (0: off)")
    _require(self.num_npz_samples >= 0, "num_npz_samples", "must be >= 0")
    _require(self.truncation is None or self.truncation > 0, "truncation",
             f"{self.truncation} must be positive, or None for no truncation")
    _require(all(0 <= c < num_classes for c in self.sample_classes), "sample_classes",
             f"{self.sample_classes} must lie in [0, model.num_classes={num_classes})")
    _require(self.inception_size >= MIN_INPUT_SIZE, "inception_size",
             f"must be at least {MIN_INPUT_SIZE} ({INCEPTION_SIZE}: the protocol)")


def _require(ok: bool, field: str, problem: str) -> None:
  if not ok:
    raise ValueError(f"config.eval.{field}: {problem}.")
