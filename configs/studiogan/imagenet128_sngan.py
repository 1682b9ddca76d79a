"""StudioGAN's ImageNet-128 SNGAN: `src/configs/ImageNet/SNGAN-256.yaml` over `src/config.py`.

Our `imagenet128_sngan` (the paper's setting) with StudioGAN's layers and recipe, so a
`model=G-best-weights-step=N.pth` of that run converts into this config
(`python -m an_flax.convert.studiogan`) and a run of this config is that run in JAX: G
without spectral norm, projection D, hinge loss, Adam (0, 0.999, eps 1e-6), G 5e-5 /
D 2e-4, 2 D steps per G step, batch 256, 500K steps, no EMA of G, orthogonal init,
BatchNorm eps 1e-4, gamma = 1 + W_gain y, torch's spectral norm, D shortcuts reading
ReLU(x). docs/studiogan.md has the table of what differs from `imagenet128_sngan` and why.
"""

import ml_collections

from configs import imagenet128_sngan


def studiogan_layers(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """StudioGAN's layers (`src/utils/ops.py`), optimiser constants (`src/config.py`) and
  image resizer (`--pre_resizer lanczos`, as its README's ImageNet commands)."""
  config.dataset.resizer = "lanczos"
  config.model.spectral_form = "torch"  # torch.nn.utils.spectral_norm, eps 1e-6
  config.model.init = "orthogonal"  # MODEL.g_init = d_init = 'ortho'
  config.model.g_bn_epsilon = 1e-4  # ops.batchnorm_2d
  config.model.g_cbn_form = "one_plus"  # ops.ConditionalBatchNorm2d
  config.model.d_activated_shortcut = True  # DiscBlock's in-place ReLU reaches x0
  config.optim.b2 = 0.999
  config.optim.eps = 1e-6  # define_optimizer's Adam eps outside StyleGAN
  config.optim.lr_decay = "none"
  config.optim.decay_start = 0
  config.ema.decay = 0.0  # MODEL.apply_g_ema = False: G_ema is G
  config.ema.start_step = 0
  return config


def get_config() -> ml_collections.ConfigDict:
  config = studiogan_layers(imagenet128_sngan.get_config())
  config.batch_size = 256
  config.num_train_steps = 500_000
  config.optim.g_lr = 5e-5
  config.optim.d_lr = 2e-4
  config.optim.b1 = 0.0
  config.optim.d_steps = 2
  return config
