"""StudioGAN's settings (POSTECH-CVLab/PyTorch-StudioGAN, `src/configs/*/SNGAN.yaml` and
`SAGAN.yaml` over `src/config.py`, its evaluation in `src/worker.py` and README) as
functions of a config, shared by the configs of this folder: each of those is
`configs/base.py` passed through one of these."""

import ml_collections

from configs import base


def evaluation(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """StudioGAN's evaluation as its benchmark reports it, in the `fid` entry.

  Its README's benchmark commands run `-metrics is fid prdc -ref "train" --post_resizer
  friendly --eval_backbone InceptionV3_tf`; `src/worker.py` `evaluate` sets `num_splits,
  nearest_k = 1, 5`; InceptionV3_tf (`src/metrics/inception_net.py`) keeps the fc bias in
  the logits the IS reads. It scores 50,000 samples (the default `num_samples`; CIFAR-10's
  train split holds as many) against the train split, with as many real features for P&R
  and D&C (`reference_features`, which `eval.py --mode=reference` writes).
  """
  config.evals.fid.update(resize="friendly", is_splits=1, is_logits_with_bias=True,
                          metrics=("fid", "is", "prdc"), nearest_k=5, reference_split="train")
  return config


def imagenet128(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """`src/configs/ImageNet/SNGAN-256.yaml`: our SN-GAN setting with StudioGAN's layers and
  recipe: Adam (0, 0.999, eps 1e-6), G 5e-5 / D 2e-4, 2 D steps per G step, batch 256,
  500K steps, no EMA of G; StudioGAN's `evaluation`."""
  config = evaluation(base.studiogan_layers(base.sngan_recipe(config)))
  config.batch_size = 256
  config.num_train_steps = 500_000
  config.optim.g_lr = 5e-5
  config.optim.d_lr = 2e-4
  config.optim.d_steps = 2
  return config


def baby_imagenet64(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """`src/configs/Baby_ImageNet/SNGAN.yaml`: `imagenet128`'s layers at 64x64 on StudioGAN's
  Baby ImageNet folder (100 classes), G 1e-4 / D 4e-4, 1 D step, 100K steps."""
  config = imagenet128(config)
  config.num_train_steps = 100_000
  config.dataset.name = "image_folder"
  config.dataset.prepared = ""  # read on the fly; set a directory to prepare it (docs/data.md)
  config.dataset.image_size = 64
  config.model.resolution = 64
  config.model.num_classes = 100
  config.model.g_multipliers = (16, 8, 4, 2, 1)
  config.model.d_multipliers = (1, 2, 4, 8, 16)
  config.optim.g_lr = 1e-4
  config.optim.d_lr = 4e-4
  config.optim.d_steps = 1
  return config


def cifar10(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """`src/configs/CIFAR10/SNGAN.yaml`: Adam (0.5, 0.999, eps 1e-6), 2e-4 for G and D, 5 D
  steps, batch 64, 100K steps, no EMA; G 256 channels (`g_conv_dim` 64) through three
  up-blocks, D 128 channels down 32 -> 16 -> 8, then two blocks at 8; StudioGAN's
  `evaluation`."""
  config = evaluation(base.studiogan_layers(base.cifar10(base.sngan_recipe(config))))
  config.model.g_ch = 64
  config.model.d_ch = 64
  config.model.g_multipliers = (4, 4, 4, 4)
  config.model.d_multipliers = (2, 2, 2, 2)
  config.optim.b1 = 0.5
  return config


def sagan(config: ml_collections.ConfigDict, resolution: int) -> ml_collections.ConfigDict:
  """The SAGAN.yaml of a dataset over its SNGAN.yaml: spectral norm in G (its
  conditional-BN projections included) and self-attention after G's block and D's block
  of output `resolution` (`attn_g_loc`, `attn_d_loc`)."""
  config.model.g_spectral_norm = True
  config.model.g_nonlocal = base.non_local("self_attention", (resolution,))
  config.model.d_nonlocal = base.non_local("self_attention", (resolution,))
  return config
