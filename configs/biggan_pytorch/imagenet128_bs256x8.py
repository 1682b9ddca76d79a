"""BigGAN-PyTorch's ImageNet-128 BigGAN: ajbrock/BigGAN-PyTorch `scripts/launch_BigGAN_bs256x8.sh`.

StudioGAN's BigGAN (`studiogan/imagenet128_biggan`: the same G and D at ch 96, z_dim 120 in
chunks of 20, shared embedding 128, attention at 64x64, orthogonal init, Adam eps 1e-6,
EMA 0.9999 from step 20K) with BigGAN-PyTorch's recipe: batch 256 x 8 accumulations (2,048
images per update of G and of D), 1 D step, G 1e-4 / D 4e-4, Adam (0, 0.999), BatchNorm eps
1e-5, D's shortcuts from x (an out-of-place ReLU), no random flips (its ImageNet loader has
none) and PIL's bilinear resize, `--G_ortho 0.0`, 150K steps (its README: "15 days to train
to 150k iterations"). A released `G_ema.pth` of that script converts into this config
(`python -m an_flax.convert.biggan --format=biggan_pytorch`).
"""

import ml_collections

from configs import base
from configs.studiogan import recipes


def get_config() -> ml_collections.ConfigDict:
  config = recipes.imagenet128_biggan(base.get_config())
  config.num_train_steps = 150_000
  config.batch_size = 256
  config.optim.accumulation_steps = 8
  config.optim.d_steps = 1
  config.optim.g_lr = 1e-4
  config.optim.d_lr = 4e-4
  config.optim.g_ortho = 0.0
  config.model.g_bn_epsilon = 1e-5
  config.model.d_activated_shortcut = False
  config.dataset.random_flip = False
  config.dataset.resizer = "bilinear"  # its loader: PIL's default filter after the crop
  return config
