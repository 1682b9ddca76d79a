"""Every configs/studiogan config evaluates as StudioGAN's benchmark does (its README's
commands: `-metrics is fid prdc -ref train --post_resizer friendly --eval_backbone
InceptionV3_tf`; `src/worker.py`: `num_splits, nearest_k = 1, 5`; InceptionV3_tf's logits
keep the fc bias), and the other configs keep pytorch-fid's protocol."""

import importlib
import pathlib

import pytest

from an_flax.evaluation import evaluators
from an_flax.metrics import prdc

CONFIGS = pathlib.Path(__file__).parents[2] / "configs"
STUDIOGAN = sorted(p.stem for p in (CONFIGS / "studiogan").glob("*.py") if p.stem != "recipes")


@pytest.mark.parametrize("name", STUDIOGAN)
def test_studiogan_configs_score_with_studiogans_protocol(name):
  config = importlib.import_module(f"configs.studiogan.{name}").get_config()
  fid = config.evals.fid
  assert (fid.resize, fid.is_splits, fid.is_logits_with_bias) == ("friendly", 1, True)
  assert tuple(fid.metrics) == ("fid", "is", "prdc")
  assert fid.nearest_k == prdc.STUDIOGAN_K.precision_recall == prdc.STUDIOGAN_K.density_coverage
  assert (fid.reference_split, fid.num_samples) == ("train", 50_000)
  evaluators.check(config)


@pytest.mark.parametrize("name", ["imagenet128_an", "imagenet128_sngan", "cifar10_an"])
def test_other_configs_keep_pytorch_fids_protocol(name):
  fid = importlib.import_module(f"configs.{name}").get_config().evals.fid
  assert (fid.resize, fid.is_splits, fid.is_logits_with_bias) == ("legacy", 10, False)
  assert tuple(fid.metrics) == ("fid", "is")
