"""The GAN task's base config: the paper's setting, AN-GAN on ImageNet 128x128.

SA-GAN (Zhang et al., 2019) with Attentive Normalization in place of its self-attention
at 32x32 in G and D: the AN paper does not publish its training setup, and SA-GAN's is
the best supported reconstruction (the reference notes, section 3). Spectral norm in G
and D, hinge loss, TTUR (G 1e-4, D 4e-4), Adam (0, 0.9), one D step per G step, batch
256, 1M steps, EMA of G; FID / IS by the `fid` evaluator (eval.py; 50,000 samples).

This file is also the schema: every field of the task is declared here once, with its
type and default, and `train.py` / `eval.py` reject fields that are not here. Every
other config of the task starts from `get_config()` and overrides fields; the functions
below are the pieces several of them share (a recipe, a dataset, StudioGAN's layers).
"""

import ml_collections
from ml_collections import config_dict

from an_flax.evaluation import evaluators
from an_flax.models import non_local as non_local_kinds


def non_local(kind: str = non_local_kinds.NONE, resolutions: tuple = (),
              inside_blocks: bool = False) -> ml_collections.ConfigDict:
  """Where a non-local module of `kind` (an_flax.models.non_local) sits."""
  return ml_collections.ConfigDict(
      dict(kind=kind, resolutions=tuple(resolutions), inside_blocks=inside_blocks))


def get_config() -> ml_collections.ConfigDict:
  config = ml_collections.ConfigDict()
  config.seed = 0
  config.batch_size = 256  # global, over all devices and processes
  config.num_train_steps = 1_000_000

  config.dataset = ml_collections.ConfigDict()
  config.dataset.name = "imagenet2012"
  config.dataset.data_dir = config_dict.placeholder(str)
  config.dataset.manual_dir = config_dict.placeholder(str)
  config.dataset.image_size = 128
  config.dataset.cache = False  # 128x128 ImageNet train is ~63 GB decoded
  config.dataset.split = "train"
  config.dataset.shuffle_buffer = 50_000  # the TFDS path's; prepared data shuffle globally
  # PIL filter of the prepared images: BigGAN-PyTorch's 'bilinear'; StudioGAN's 'lanczos'
  # (`studiogan_layers`); also 'bicubic', 'box', 'hamming', 'nearest'.
  config.dataset.resizer = "bilinear"
  # Read the images `python -m an_flax.data.prepare` made once from the ILSVRC tars: the
  # PyTorch loaders' pixels, globally shuffled (docs/data.md). The directory of its splits
  # ({data_dir}, {name}, {image_size}, {resizer} are filled in); "": TFDS on the fly.
  config.dataset.prepared = "{data_dir}/an_flax_prepared/{name}_{image_size}_{resizer}"
  # Flip each training image left-right with probability 1/2 (StudioGAN's PRE.apply_rflip),
  # a function of (seed, batch index, row): a resumed run flips the same images.
  config.dataset.random_flip = False

  config.model = ml_collections.ConfigDict()
  # 'resnet': SN-GAN / SA-GAN's ResNets; 'biggan': BigGAN's G (shared class embedding,
  # hierarchical z, an_flax.models.biggan) with the same projection D.
  config.model.architecture = "resnet"
  config.model.resolution = 128
  config.model.num_classes = 1000
  config.model.z_dim = 128
  config.model.g_ch = 64
  config.model.d_ch = 64
  config.model.g_multipliers = (16, 16, 8, 4, 2, 1)  # 4 -> 8 -> 16 -> 32 -> 64 -> 128
  config.model.d_multipliers = (1, 2, 4, 8, 16, 16)
  # Where D stops downsampling; None: 8 at resolution 32 (SN-GAN's CIFAR D), else 4.
  config.model.d_final_resolution = config_dict.placeholder(int)
  config.model.g_spectral_norm = True
  config.model.shared_dim = 128  # BigGAN: its shared class embedding's size
  config.model.hierarchical_z = True  # BigGAN: z in chunks, one per block and the 4x4 map
  config.model.g_nonlocal = non_local("attentive_norm", (32,))
  config.model.d_nonlocal = non_local("attentive_norm", (32,))
  config.model.update(non_local_kinds.default_options())  # each kind's options: `model.an`
  config.model.dtype = "float32"
  # How the layers are built (an_flax.models.LayerOptions). These defaults are this
  # project's; `studiogan_layers` sets StudioGAN's so its checkpoints load as they are.
  config.model.spectral_form = "flax"  # 'flax' | 'torch': torch's u, v state and eval rule
  config.model.init = "xavier_uniform"  # 'xavier_uniform' | 'orthogonal': convs, dense, embeds
  config.model.g_bn_epsilon = 1e-5  # G's BatchNorms (StudioGAN: 1e-4)
  config.model.g_cbn_form = "table"  # 'table': gain[y], bias[y] | 'one_plus': 1 + W_gain y
  config.model.d_activated_shortcut = False  # D's shortcuts read ReLU(x) (StudioGAN: True)
  # False: G's BatchNorm statistics over the global batch. True: over each
  # device's rows, as PyTorch DataParallel baselines effectively had.
  config.model.per_device_bn = False

  config.optim = ml_collections.ConfigDict()
  config.optim.g_lr = 1e-4
  config.optim.d_lr = 4e-4
  config.optim.b1 = 0.0
  config.optim.b2 = 0.9
  config.optim.eps = 1e-8  # Adam's epsilon (optax's default; StudioGAN: 1e-6)
  config.optim.d_steps = 1  # D updates per G update, each on its own batch
  # Micro-batches of batch_size per update, their gradients averaged (StudioGAN's
  # OPTIMIZATION.acml_steps, BigGAN-PyTorch's num_G/D_accumulations): a step reads
  # d_steps * accumulation_steps batches.
  config.optim.accumulation_steps = 1
  # BigGAN's orthogonal regularisation of G (BigGAN-PyTorch's --G_ortho; its paper 1e-4),
  # added to G's gradients, the shared embedding left out. 0: off.
  config.optim.g_ortho = 0.0
  # D's pass in the G update runs in train mode and advances D's spectral-norm
  # vectors, as in StudioGAN and BigGAN-PyTorch (False: that pass leaves them).
  config.optim.g_step_advances_d_spectral = True
  config.optim.lr_decay = "none"  # 'none' | 'linear' (to 0 at num_train_steps)
  config.optim.decay_start = 0

  config.loss = ml_collections.ConfigDict()
  # Not measured at this width (the penalty grows with the channels): the value before the
  # default's 1e-5 was chosen on the embedded data (docs/training.md).
  config.loss.orthogonal_weight = 1e-4
  # LeCam regularisation of D (StudioGAN's LOSS.apply_lecam is lecam_lambda > 0): the
  # weight, the decay of its anchors (moving averages of D's outputs) and the G step
  # from which they average (copies before) and the term counts.
  config.loss.lecam_lambda = 0.0
  config.loss.lecam_ema_decay = 0.99
  config.loss.lecam_ema_start_iter = 1_000

  # DiffAugment of every image D sees, real and fake, inside the step (StudioGAN's
  # AUG.apply_diffaug): a comma-separated policy of color, translation, cutout; "": off.
  config.augment = ml_collections.ConfigDict()
  config.augment.diffaug_policy = ""

  config.ema = ml_collections.ConfigDict()
  config.ema.decay = 0.9999
  config.ema.start_step = 20_000  # before this step the EMA copies G

  config.checkpoint = ml_collections.ConfigDict()
  config.checkpoint.every_steps = 5_000
  config.checkpoint.keep = 3  # the newest
  # Also keep the `keep_best` best checkpoints (0: none) by `best_metric`, a score an
  # evaluator run during training logs ('<evals name>/<metric>'); best_mode 'min' | 'max'.
  config.checkpoint.keep_best = 0
  config.checkpoint.best_metric = "fid/fid"
  config.checkpoint.best_mode = "min"

  config.log_every_steps = 500
  config.sample_every_steps = 10_000
  config.layout_every_steps = 10_000

  # A JAX profiler trace of `num_steps` steps from step `first_step` (0: off) into
  # <workdir>/plugins/profile/ (TensorBoard's profile tab).
  config.profile = ml_collections.ConfigDict()
  config.profile.first_step = 0
  config.profile.num_steps = 5

  # How eval.py and the evaluators draw from a generator.
  config.sampling = ml_collections.ConfigDict()
  config.sampling.batch_size = config_dict.placeholder(int)  # None: config.batch_size
  config.sampling.use_ema = True  # G_ema (else the raw G)
  config.sampling.standing_stats_batches = 0  # 0: off (BigGAN uses 16)
  config.sampling.truncation = config_dict.placeholder(float)  # eval.py only; None: N(0, I)
  config.sampling.num_npz_samples = 10_000  # eval.py --mode=samples: samples.npz
  config.sampling.sample_classes = ()  # eval.py --mode=samples; empty: 10 evenly spaced

  # Evaluators by name: their types are the modules of an_flax/evaluation/evaluators,
  # their fields and defaults are declared there. During training each runs every
  # `every_steps` steps (0: only in eval.py) and at the last step.
  config.evals = ml_collections.ConfigDict()
  config.evals.fid = evaluators.entry("inception")
  return config


def sngan_recipe(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """SN-GAN-projection's setting (Miyato & Koyama, 2018): no spectral norm in G, no
  non-local module, Adam 2e-4 (0, 0.9), 5 D steps per G step, batch 64, 850K G steps with
  a linear decay from 400K."""
  config.batch_size = 64
  config.num_train_steps = 850_000
  config.model.g_spectral_norm = False
  config.model.g_nonlocal = non_local()
  config.model.d_nonlocal = non_local()
  config.optim.g_lr = 2e-4
  config.optim.d_lr = 2e-4
  config.optim.d_steps = 5
  config.optim.lr_decay = "linear"
  config.optim.decay_start = 400_000
  config.loss.orthogonal_weight = 1e-5
  return config


def cifar10(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """CIFAR-10 with the standard 32x32 SN-GAN ResNet: G ch 256 with three up-blocks
  4 -> 8 -> 16 -> 32, D ch 128, 100K steps (a learning-rate decay, when on, from the
  start); the data is small enough to cache."""
  config.num_train_steps = 100_000
  config.optim.decay_start = 0
  config.dataset.name = "cifar10"
  config.dataset.image_size = 32
  config.dataset.cache = True
  config.dataset.shuffle_buffer = 10_000
  config.dataset.prepared = ""  # TFDS's prepared cifar10, read on the fly
  config.model.resolution = 32
  config.model.num_classes = 10
  config.model.g_ch = 256
  config.model.d_ch = 128
  config.model.g_multipliers = (1, 1, 1, 1)
  config.model.d_multipliers = (1, 1, 1, 1)
  config.ema.start_step = 1_000
  config.log_every_steps = 100
  config.sample_every_steps = 5_000
  config.layout_every_steps = 5_000
  return config


def studiogan_layers(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """StudioGAN's layers (`src/utils/ops.py`) and optimiser constants (`src/config.py`),
  so that its checkpoints convert into the config (docs/studiogan.md), and its image resizer
  (`--pre_resizer lanczos`, as its README's ImageNet commands)."""
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
