"""eval.py --mode=protocols: one checkpoint scored under every published evaluation protocol,
in one table.

The same generator gets different FIDs from pytorch-fid, clean-fid and StudioGAN, and
different Inception Scores from OpenAI's code and StudioGAN's, because each feeds the
Inception network its own way (the resize mode: `an_flax.metrics.preprocess`), splits the
samples differently and keeps or drops the fc bias in the IS logits. This mode draws the
samples of `--mode=metrics` once (the inception entry's `num_samples`, the same z and labels)
and scores them in every setting:
  Inception with each resize mode (legacy, clean, friendly): the FID, and the IS with 10
    and 1 splits, its logits without and with the fc bias (one pass of the network gives
    both: the bias is added on the host);
  DINOv2 on dgm-eval's input path, when `config.evals` has a dinov2 entry: FD_DINOv2.
A setting's reference statistics come from a file of the config when one was recorded in
that setting (any entry's `reference_stats` with its sidecar, or `reference_features`, of
the same network, weights, resize mode, dataset and split); the others are measured, in
one pass over each split for all of them. `<workdir>/protocols_<step>.md` is the table:
each number with its setting, the published numbers computed that way, and where its
reference came from; `protocols_<step>.json` holds the same with the full records.
"""

import dataclasses
import json
import os
from typing import Any, Dict, List, Optional, Sequence, Tuple

import jax
import ml_collections
import numpy as np
from absl import logging
from jax.sharding import Mesh

from an_flax import metrics
from an_flax.evaluation import evaluate, feature_metrics, reference
from an_flax.evaluation.evaluators import dinov2 as dinov2_evaluator
from an_flax.evaluation.generate import Sampler, sampling_batch_size, uniform_labels
from an_flax.evaluation.restore import restore_generator
from an_flax.metrics import networks
from an_flax.metrics.preprocess import RESIZE_MODES
from an_flax.models import build_models
from an_flax.runtime import mesh as mesh_lib, streams

IS_SETTINGS = ((10, False), (1, False), (10, True), (1, True))  # (splits, logits with bias)
# The published numbers each setting reproduces: (network, resize, metric[, IS setting]).
PUBLISHED = {
    ("inception", "legacy", "fid"): "pytorch-fid; the AN paper",
    ("inception", "clean", "fid"): "clean-fid (mode='clean')",
    ("inception", "friendly", "fid"): ("StudioGAN's benchmark (--post_resizer friendly "
                                       "--eval_backbone InceptionV3_tf)"),
    (networks.DINOV2, networks.DINOV2_INPUT, "fd_dinov2"): "dgm-eval (Stein et al., 2023)",
    ("inception", "legacy", "is", 10, False): "OpenAI's IS splits and logits (this "
                                              "project's default)",
    ("inception", "friendly", "is", 1, True): "StudioGAN's benchmark",
}


@dataclasses.dataclass(frozen=True)
class Setting:
  """One network on one input path, and the entry whose reference split it scores against."""

  network: networks.FeatureNetwork
  record: Dict[str, Any]  # reference.network_record
  metric: str  # its Frechet distance: "fid" or "fd_dinov2"
  split: str

  @property
  def name(self) -> str:
    return f"{self.record['network']}, {self.record['resize']}"


def entry_of_type(config: ml_collections.ConfigDict, names: Sequence[str], type_name: str,
                  required: bool) -> Optional[str]:
  """The one entry of `type_name` among `names`; None when there is none and not `required`."""
  found = [name for name in names if config.evals[name].type == type_name]
  if len(found) > 1:
    raise ValueError(f"--mode=protocols takes one {type_name!r} entry; config.evals has "
                     f"{found}: name one with --evals.")
  if not found and required:
    raise ValueError(f"--mode=protocols needs an {type_name!r} entry among config.evals "
                     f"{list(names)} (its weights, sample count and reference split).")
  return found[0] if found else None


def build_settings(config: ml_collections.ConfigDict, name: str, dinov2_name: Optional[str],
                   mesh: Mesh) -> Tuple[List[Setting], np.ndarray]:
  """Every setting of the inception entry `name` (and the dinov2 entry `dinov2_name`),
  loading each network's weights once, and the Inception fc bias."""
  entry, field = config.evals[name], f"config.evals.{name}.inception_weights"
  most_splits = max(splits for splits, _ in IS_SETTINGS)
  if entry.num_samples < most_splits:
    raise ValueError(f"config.evals.{name}.num_samples={entry.num_samples}: the IS of "
                     f"{most_splits} splits needs at least as many samples.")
  variables = metrics.load_inception_variables(entry.inception_weights, field)
  sha256 = networks.weights_sha256(entry.inception_weights)
  settings = []
  for resize in RESIZE_MODES:
    network = networks.inception_network(variables, sha256, resize,
                                         image_size=entry.inception_size, mesh=mesh)
    record = reference.network_record(network, entry.inception_weights, entry.inception_size)
    settings.append(Setting(network, record, "fid", entry.reference_split))
  if dinov2_name:
    dinov2 = config.evals[dinov2_name]
    network, record = dinov2_evaluator.network(dinov2, f"evals.{dinov2_name}", mesh)
    settings.append(Setting(network, record, "fd_dinov2", dinov2.reference_split))
  return settings, np.asarray(variables["params"]["fc"]["bias"], np.float32)


def _given(config: ml_collections.ConfigDict, setting: Setting
           ) -> Optional[Tuple[metrics.Statistics, Dict[str, Any]]]:
  """Statistics of `setting`'s reference from a file of `config.evals`, if one records it:
  statistics files first (their sidecar), then features files (their provenance)."""
  space, wanted = setting.network.space, (config.dataset.name, setting.split)
  files = [e.get(field, "") for field in ("reference_stats", "reference_features")
           for e in config.evals.values()]
  for path in dict.fromkeys(p for p in files if p and os.path.isfile(p)):
    if metrics.has_features(path):
      try:
        saved = metrics.load_features(path, space)
      except metrics.FeatureFileError:
        continue
      source = saved.provenance["source"]
      if (source.get("dataset"), source.get("split")) == wanted:
        return saved.statistics, {"path": os.path.abspath(path), "dataset": wanted[0],
                                  "split": wanted[1], **saved.provenance}
    elif os.path.isfile(reference.provenance_path(path)):
      with open(reference.provenance_path(path)) as f:
        sidecar = json.load(f)
      recorded = sidecar.get("network", {})
      if ({k: recorded.get(k) for k in reference.SPACE_FIELDS} == dataclasses.asdict(space)
          and (sidecar.get("dataset"), sidecar.get("split")) == wanted):
        return metrics.load_statistics(path), {"path": os.path.abspath(path), **sidecar}
  return None


def references(config: ml_collections.ConfigDict, settings: Sequence[Setting]
               ) -> List[Tuple[metrics.Statistics, Dict[str, Any]]]:
  """Each setting's reference statistics and their provenance: from a given file, else
  measured, in one pass over each split for every setting it serves."""
  found = [_given(config, setting) for setting in settings]
  for split in dict.fromkeys(s.split for s, given in zip(settings, found) if given is None):
    missing = [i for i, (setting, given) in enumerate(zip(settings, found))
               if given is None and setting.split == split]
    logging.info("Measuring %s %s for %s.", config.dataset.name, split,
                 ", ".join(settings[i].name for i in missing))
    accumulators, _ = reference.measure_split(config, split,
                                              [settings[i].network.extract for i in missing])
    for i, accumulator in zip(missing, accumulators):
      found[i] = (accumulator.statistics(),
                  {**reference.split_provenance(config, split, accumulator.count),
                   "source": "measured by this run"})
  return found


def score_samples(sampler: Sampler, variables: Any, labels: np.ndarray, key: jax.Array,
                  settings: Sequence[Setting]
                  ) -> Tuple[List[metrics.Statistics], Dict[str, np.ndarray]]:
  """One stream of samples through every setting: each one's statistics, and the logits
  (without the fc bias) of each Inception setting by name."""
  accumulators = [metrics.StatsAccumulator() for _ in settings]
  logits: Dict[str, List[np.ndarray]] = {s.name: [] for s in settings if s.metric == "fid"}
  for images, _ in sampler.stream(variables, labels, key, desc="protocols"):
    for setting, accumulator in zip(settings, accumulators):
      features, batch_logits = setting.network.extract(images)
      accumulator.update(features)
      if setting.name in logits:
        logits[setting.name].append(batch_logits)
  return ([a.statistics() for a in accumulators],
          {name: np.concatenate(parts) for name, parts in logits.items()})


def _rows(settings: Sequence[Setting], samples: Sequence[metrics.Statistics],
          reals: Sequence[Tuple[metrics.Statistics, Dict[str, Any]]],
          logits: Dict[str, np.ndarray], fc_bias: np.ndarray) -> List[Dict[str, Any]]:
  """One row per number: its setting, value, what publishes it and its reference."""
  rows = []
  for setting, fake, (real, provenance) in zip(settings, samples, reals):
    network, resize = setting.record["network"], setting.record["resize"]
    rows.append({"setting": setting.name, "metric": setting.metric,
                 "value": metrics.frechet_distance(*fake, *real),
                 "published": PUBLISHED.get((network, resize, setting.metric), ""),
                 "reference": provenance})
    for splits, with_bias in IS_SETTINGS if setting.name in logits else ():
      mean, std = metrics.inception_score(
          logits[setting.name] + (fc_bias if with_bias else 0.0), splits)
      rows.append({"setting": setting.name, "metric": "is", "is_splits": splits,
                   "is_logits_with_bias": with_bias, "value": mean, "std": std,
                   "published": PUBLISHED.get((network, resize, "is", splits, with_bias), "")})
  return rows


def format_markdown(record: Dict[str, Any]) -> str:
  """The table of `write_protocols`' record, with how the samples were drawn above it."""
  truncation = record["truncation"] or "off"
  lines = [f"# Protocols: step {record['step']} ({record['checkpoint']})", "",
           f"{record['generator']}, {record['num_samples']} samples ({record['labels']}, seed "
           f"{record['seed']}), truncation {truncation}, standing statistics "
           f"{'on' if record['standing_stats'] else 'off'}. Each setting's network: "
           "`settings` in the JSON beside this file.", "",
           "| network, resize | metric | value | published with this setting | reference |",
           "|---|---|---|---|---|"]
  for row in record["rows"]:
    if row["metric"] == "is":
      bias = "with" if row["is_logits_with_bias"] else "without"
      metric = f"IS, {row['is_splits']} splits, logits {bias} the fc bias"
      value, where = f"{row['value']:.3f} +- {row['std']:.3f}", "-"
    else:
      metric, value = feature_metrics.FRECHET[row["metric"]], f"{row['value']:.3f}"
      ref = row["reference"]
      where = (f"{ref['dataset']} {ref['split']}, {ref['num_images']} images: "
               f"{ref.get('path', ref.get('source'))}")
    lines.append(f"| {row['setting']} | {metric} | {value} | {row['published'] or '-'} | "
                 f"{where} |")
  return "\n".join(lines) + "\n"


def write_protocols(config: ml_collections.ConfigDict, workdir: str,
                    step: Optional[int] = None, names: Optional[Sequence[str]] = None
                    ) -> Dict[str, Any]:
  """Scores checkpoint `step` (None: the newest) in every setting, writes
  `<workdir>/protocols_<step>.md` and `.json`, prints the table and returns the record.

  The inception entry among `names` (None: all of `config.evals`) gives the weights, the
  sample count and the reference split; a dinov2 entry adds FD_DINOv2.
  """
  names = sorted(names if names is not None else config.evals)
  name = entry_of_type(config, names, "inception", required=True)
  mesh = mesh_lib.create_mesh()
  settings, fc_bias = build_settings(
      config, name, entry_of_type(config, names, "dinov2", required=False), mesh)
  models = build_models(config.model)
  restored = restore_generator(config, workdir, mesh, step, models)
  reals = references(config, settings)
  sampler = Sampler(restored.generator, mesh, sampling_batch_size(config), config.model.z_dim,
                    config.sampling.truncation)
  num_samples = config.evals[name].num_samples
  labels = uniform_labels(num_samples, config.model.num_classes, config.seed)
  samples, logits = score_samples(sampler, restored.variables, labels,
                                  streams.key(config.seed, streams.Stream.FID), settings)
  record = {**evaluate.generator_record(config, restored), "num_samples": num_samples,
            "settings": {s.name: s.record for s in settings},
            "rows": _rows(settings, samples, reals, logits, fc_bias)}
  stem = os.path.join(workdir, f"protocols_{restored.step}")
  table = format_markdown(record)
  with open(stem + ".json", "w") as f:
    json.dump(record, f, indent=2)
  with open(stem + ".md", "w") as f:
    f.write(table)
  print(table)
  logging.info("Wrote %s.md and .json.", stem)
  return record
