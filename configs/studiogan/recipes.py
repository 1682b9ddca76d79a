"""StudioGAN's settings (POSTECH-CVLab/PyTorch-StudioGAN, `src/configs/*/SNGAN.yaml`,
`SAGAN.yaml` and `BigGAN*.yaml` over `src/config.py`, its evaluation in `src/worker.py` and
README) as functions of a config, shared by the configs of this folder and
`configs/imagenet128_biggan_an.py`: each of those is
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


def studiogan(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """StudioGAN's layers and optimiser constants (`base.studiogan_layers`) and the recipe
  switches of `src/config.py` its YAMLs here keep: every training image flipped at random
  (`PRE.apply_rflip = True`); no accumulation (`OPTIMIZATION.acml_steps = 1`), DiffAugment
  (`AUG.apply_diffaug = False`) or LeCam (`LOSS.apply_lecam = False`), as in the base;
  and its `evaluation`."""
  config = base.studiogan_layers(config)
  config.dataset.random_flip = True
  return evaluation(config)


def imagenet128(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """`src/configs/ImageNet/SNGAN-256.yaml`: our SN-GAN setting with StudioGAN's layers and
  recipe: Adam (0, 0.999, eps 1e-6), G 5e-5 / D 2e-4, 2 D steps per G step, batch 256,
  500K steps, no EMA of G, random flips."""
  config = studiogan(base.sngan_recipe(config))
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
  steps, batch 64, 100K steps, no EMA, random flips; G 256 channels (`g_conv_dim` 64)
  through three up-blocks, D 128 channels down 32 -> 16 -> 8, then two blocks at 8."""
  config = studiogan(base.cifar10(base.sngan_recipe(config)))
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


def biggan(config: ml_collections.ConfigDict, z_dim: int, attention: int,
           ema_start: int) -> ml_collections.ConfigDict:
  """A dataset's BigGAN YAML over its SNGAN one: `backbone: big_resnet` (shared class
  embedding of 128, hierarchical z of `z_dim`, spectral norm in G), `g_conv_dim` =
  `d_conv_dim` = 96, self-attention after G's and D's blocks of output `attention`, and an
  EMA of G (decay 0.9999 from G step `ema_start`)."""
  config.model.architecture = "biggan"
  config.model.g_spectral_norm = True
  config.model.z_dim = z_dim
  config.model.shared_dim = 128
  config.model.g_ch = 96
  config.model.d_ch = 96
  config = sagan(config, attention)
  config.ema.decay = 0.9999
  config.ema.start_step = ema_start
  return config


def imagenet128_biggan(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """`src/configs/ImageNet/BigGAN-256.yaml`: `imagenet128`'s recipe (batch 256, G 5e-5 / D
  2e-4, 2 D steps, Adam (0, 0.999)) with BigGAN at 128x128 (z_dim 120, attention at 64x64:
  `attn_g_loc: [4]`, `attn_d_loc: [1]`), EMA from 20K, 200K steps."""
  config = biggan(imagenet128(config), z_dim=120, attention=64, ema_start=20_000)
  config.num_train_steps = 200_000
  return config


def cifar10_biggan(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """`src/configs/CIFAR10/BigGAN.yaml`: `cifar10`'s recipe (batch 64, 2e-4, Adam (0.5,
  0.999), 5 D steps) with BigGAN at 32x32 (z_dim 80, G 384 channels through three blocks,
  D 192, attention at 16x16: `attn_g_loc: [2]`, `attn_d_loc: [1]`), EMA from 1K, 200K
  steps."""
  config = biggan(cifar10(config), z_dim=80, attention=16, ema_start=1_000)
  config.num_train_steps = 200_000
  return config
