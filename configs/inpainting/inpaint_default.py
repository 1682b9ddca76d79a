"""Default inpainting config: a small AN inpainter on the embedded facades, CPU-sized.

Trains on a 2-core CPU in under ten minutes (compile, pictures and checkpoints
included) and leaves pictures before and after training under
`<workdir>/pictures/`. Every other inpainting config imports this one and
overrides fields, so this file is also the schema: unknown fields are rejected.
"""

import ml_collections
from ml_collections import config_dict

from an_flax.models import non_local


def get_config() -> ml_collections.ConfigDict:
  config = ml_collections.ConfigDict()
  config.task = "inpainting"
  config.seed = 0
  config.batch_size = 8  # global, over all devices and processes
  config.num_train_steps = 300

  config.dataset = ml_collections.ConfigDict()
  config.dataset.name = "procedural_facades"  # or 'image_folder' (<data_dir>/<split>/<class>/*)
  config.dataset.data_dir = config_dict.placeholder(str)
  config.dataset.manual_dir = config_dict.placeholder(str)
  config.dataset.image_size = 64  # multiple of 4, >= 32 with AN's defaults
  config.dataset.cache = True
  config.dataset.split = "train"
  config.dataset.eval_split = "test"
  config.dataset.shuffle_buffer = 4000

  config.model = ml_collections.ConfigDict()
  config.model.width = 16  # generator width (reference 32)
  config.model.critic_width = 16  # critic width (reference 64)
  config.model.non_local = "attentive_norm"  # a kind of an_flax.models.non_local, or 'none'
  config.model.update(non_local.default_options())  # each kind's options: `model.an`, ...

  config.masks = ml_collections.ConfigDict()
  config.masks.kind = "rectangle"  # training holes: 'rectangle' | 'free_form'

  config.optim = ml_collections.ConfigDict()
  config.optim.lr = 2e-4  # reference 1e-5: raised for a short run
  config.optim.b1 = 0.5
  config.optim.b2 = 0.9
  config.optim.critic_steps = 1  # critic updates per generator update (reference 5)

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
  config.loss.id_mrf_weight = 0.0  # reference 0.05: needs vgg19_weights
  config.loss.vgg19_weights = ""  # .npz of torchvision's vgg19 state dict (see an_flax/inpainting/vgg19.py)

  config.checkpoint = ml_collections.ConfigDict()
  config.checkpoint.every_steps = 100
  config.checkpoint.keep = 2

  config.log_every_steps = 25
  config.picture_every_steps = 100

  # A JAX profiler trace of `num_steps` steps from step `first_step` (0: off) into
  # <workdir>/plugins/profile/ (TensorBoard's profile tab).
  config.profile = ml_collections.ConfigDict()
  config.profile.first_step = 0
  config.profile.num_steps = 5

  config.eval = ml_collections.ConfigDict()
  config.eval.batch_size = 8
  config.eval.num_examples = 200  # 0: the whole eval split
  config.eval.free_form = True  # also score fixed free-form holes
  config.eval.mask_seed = 0
  return config
