"""The inpainting task's base config: the paper's setting, Paris StreetView 256x256 with AN.

DeepFill v1 with Attentive Normalization in its refinement's non-local branch (n = 16 on
the 64x64x128 map), WGAN-GP whole-image and hole critics, the released code's loss
weights and optimiser (Adam 1e-5 (0.5, 0.9), 5 critic steps, batch 16, ID-MRF on VGG19
features). Data: an image folder `<data_dir>/train/<any>/*.png` and
`<data_dir>/test/<any>/*.png` (e.g. the 14,900 training and 100 test pictures of Paris
StreetView, resized to 256): set `--config.dataset.data_dir=...` and
`--config.loss.vgg19_weights=vgg19.npz`.

This file is also the schema: every field of the task is declared here once, with its
type and default; unknown fields are rejected. Every other inpainting config starts from
`get_config()` and overrides fields.
"""

import ml_collections
from ml_collections import config_dict

from an_flax.models import non_local


def get_config() -> ml_collections.ConfigDict:
  config = ml_collections.ConfigDict()
  config.task = "inpainting"
  config.seed = 0
  config.batch_size = 16  # global, over all devices and processes
  config.num_train_steps = 400_000

  config.dataset = ml_collections.ConfigDict()
  config.dataset.name = "image_folder"  # <data_dir>/<split>/<class>/*, or procedural_facades
  config.dataset.data_dir = config_dict.placeholder(str)
  config.dataset.manual_dir = config_dict.placeholder(str)
  config.dataset.image_size = 256  # a multiple of 4, >= 32 with AN's defaults
  config.dataset.cache = False
  config.dataset.split = "train"
  config.dataset.eval_split = "test"
  config.dataset.shuffle_buffer = 15_000

  config.model = ml_collections.ConfigDict()
  config.model.width = 32  # generator width
  config.model.critic_width = 64  # critic width
  config.model.non_local = "attentive_norm"  # a kind of an_flax.models.non_local, or 'none'
  config.model.update(non_local.default_options())  # each kind's options: `model.an`

  config.masks = ml_collections.ConfigDict()
  config.masks.kind = "rectangle"  # training holes: 'rectangle' | 'free_form'

  config.optim = ml_collections.ConfigDict()
  config.optim.lr = 1e-5
  config.optim.b1 = 0.5
  config.optim.b2 = 0.9
  config.optim.critic_steps = 5  # critic updates per generator update

  # Weights as the released AN code (options/train_options.py): each stage's
  # L1 terms are scaled by coarse/refined_l1_weight, then the hole terms by
  # hole_l1_weight and the known-region terms by known_l1_weight.
  config.loss = ml_collections.ConfigDict()
  config.loss.coarse_l1_weight = 1.2
  config.loss.refined_l1_weight = 1.2
  config.loss.hole_l1_weight = 1.4
  config.loss.known_l1_weight = 1.2
  config.loss.discount_gamma = 0.9
  config.loss.adversarial_weight = 1e-3
  config.loss.gradient_penalty_weight = 10.0
  # The paper's ||W W^T - I||_F^2; the released code weighs its own (different)
  # penalty by 0.2 * 1e-3.
  config.loss.orthogonal_weight = 2e-4
  config.loss.id_mrf_weight = 0.05  # needs vgg19_weights
  config.loss.vgg19_weights = ""  # .npz of torchvision's vgg19 state dict (see an_flax/inpainting/vgg19.py)

  config.checkpoint = ml_collections.ConfigDict()
  config.checkpoint.every_steps = 5000
  config.checkpoint.keep = 3

  config.log_every_steps = 100
  config.picture_every_steps = 5000

  # A JAX profiler trace of `num_steps` steps from step `first_step` (0: off) into
  # <workdir>/plugins/profile/ (TensorBoard's profile tab).
  config.profile = ml_collections.ConfigDict()
  config.profile.first_step = 0
  config.profile.num_steps = 5

  config.eval = ml_collections.ConfigDict()
  config.eval.batch_size = 16
  config.eval.num_examples = 0  # 0: the whole eval split
  config.eval.free_form = True  # also score fixed free-form holes
  config.eval.mask_seed = 0
  return config
