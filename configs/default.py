"""Default config: a tiny AN-GAN on the embedded 32x32, 10-class dataset.

Small enough to train on a 2-core CPU in under ten minutes (compile, samples,
layouts and checkpoints included) while its per-class sample sheet is already
readable. Every other config imports this one and overrides fields, so this
file is also the schema: the fields, their types and defaults are declared
here once, and `train.py` and `eval.py` reject fields that are not here.
"""

import ml_collections
from ml_collections import config_dict


def nonlocal_config(kind: str = "none", resolutions: tuple = (), inside_blocks: bool = False
                    ) -> ml_collections.ConfigDict:
  """Where a non-local layer ('none'|'self_attention'|'attentive_norm') sits."""
  return ml_collections.ConfigDict(
      dict(kind=kind, resolutions=tuple(resolutions), inside_blocks=inside_blocks))


def get_config() -> ml_collections.ConfigDict:
  config = ml_collections.ConfigDict()
  config.seed = 0
  config.batch_size = 16  # global, over all devices and processes
  config.num_train_steps = 3200

  config.dataset = ml_collections.ConfigDict()
  config.dataset.name = "symmetric_shapes"
  config.dataset.data_dir = config_dict.placeholder(str)
  config.dataset.manual_dir = config_dict.placeholder(str)
  config.dataset.image_size = 32
  config.dataset.cache = True
  config.dataset.split = "train"
  config.dataset.shuffle_buffer = 10_000
  # PIL filter of the prepared images: BigGAN-PyTorch's 'bilinear'; StudioGAN's 'lanczos'
  # (its configs/studiogan); also 'bicubic', 'box', 'hamming', 'nearest'.
  config.dataset.resizer = "bilinear"
  # Directory of the splits `python -m an_flax.data.prepare` writes ({data_dir}, {name},
  # {image_size}, {resizer} are filled in); "": read the data on the fly (docs/data.md).
  config.dataset.prepared = ""

  config.model = ml_collections.ConfigDict()
  config.model.resolution = 32
  config.model.num_classes = 10
  config.model.z_dim = 128
  config.model.g_ch = 8
  config.model.d_ch = 8
  config.model.g_multipliers = (8, 8, 4, 2)  # 64 channels at 4x4 -> 8 -> 16 -> 32
  config.model.d_multipliers = (2, 4, 8, 8)
  # Where D stops downsampling; None: 8 at resolution 32 (SN-GAN's CIFAR D), else 4.
  config.model.d_final_resolution = config_dict.placeholder(int)
  config.model.g_spectral_norm = True
  config.model.g_nonlocal = nonlocal_config("attentive_norm", (16,))
  config.model.d_nonlocal = nonlocal_config("attentive_norm", (16,))
  config.model.an = ml_collections.ConfigDict(dict(
      num_entities=16, kappa=10.0, key_pool=2, sampling="per_example", affine=False,
      eps=1e-5, orthogonal_form="frobenius"))
  config.model.dtype = "float32"
  # How the layers are built (an_flax.models.LayerOptions). These defaults are this
  # project's; configs/studiogan set StudioGAN's so its checkpoints load as they are.
  config.model.spectral_form = "flax"  # 'flax' | 'torch': torch's u, v state and eval rule
  config.model.init = "xavier_uniform"  # 'xavier_uniform' | 'orthogonal': convs, dense, embeds
  config.model.g_bn_epsilon = 1e-5  # G's BatchNorms (StudioGAN: 1e-4)
  config.model.g_cbn_form = "table"  # 'table': gain[y], bias[y] | 'one_plus': 1 + W_gain y
  config.model.d_activated_shortcut = False  # D's shortcuts read ReLU(x) (StudioGAN: True)
  # False: G's BatchNorm statistics over the global batch. True: over each
  # device's rows, as PyTorch DataParallel baselines effectively had.
  config.model.per_device_bn = False

  config.optim = ml_collections.ConfigDict()
  config.optim.g_lr = 2e-4
  config.optim.d_lr = 2e-4
  config.optim.b1 = 0.0
  config.optim.b2 = 0.9
  config.optim.eps = 1e-8  # Adam's epsilon (optax's default; StudioGAN: 1e-6)
  config.optim.d_steps = 1  # D updates per G update, each on its own batch
  # D's pass in the G update runs in train mode and advances D's spectral-norm
  # vectors, as in StudioGAN and BigGAN-PyTorch (False: that pass leaves them).
  config.optim.g_step_advances_d_spectral = True
  config.optim.lr_decay = "none"  # 'none' | 'linear' (to 0 at num_train_steps)
  config.optim.decay_start = 0

  config.loss = ml_collections.ConfigDict()
  config.loss.orthogonal_weight = 1e-5  # the weighted penalty stays below the hinge loss

  config.ema = ml_collections.ConfigDict()
  config.ema.decay = 0.995
  config.ema.start_step = 200  # before this step the EMA copies G

  config.checkpoint = ml_collections.ConfigDict()
  config.checkpoint.every_steps = 800
  config.checkpoint.keep = 3

  config.log_every_steps = 100
  config.sample_every_steps = 800
  config.layout_every_steps = 800

  # A JAX profiler trace of `num_steps` steps from step `first_step` (0: off) into
  # <workdir>/plugins/profile/ (TensorBoard's profile tab).
  config.profile = ml_collections.ConfigDict()
  config.profile.first_step = 0
  config.profile.num_steps = 5

  # Evaluation protocol (eval.py and the in-training scores; meanings and checks in
  # an_flax/evaluation/options.py). This run is scored by the shipped symmetric_shapes
  # classifier; the Inception fields' defaults are the published ImageNet protocol,
  # which configs/imagenet128_sngan.py (and every config on other data) switches to.
  config.eval = ml_collections.ConfigDict()
  config.eval.feature_network = "shapes"  # eval.py --mode=metrics: 'shapes' | 'inception'
  config.eval.inception_weights = ""  # converted pytorch-fid weights (.npz), see README
  config.eval.reference_stats = ""  # .npz with mu, sigma (eval.py --mode=reference)
  config.eval.reference_class_stats = ""  # per-class .npz; intra-FID only when set
  config.eval.reference_split = "train"
  config.eval.num_samples = 50_000
  config.eval.samples_per_class = 5_000
  config.eval.is_splits = 10
  config.eval.batch_size = config_dict.placeholder(int)  # None: config.batch_size
  config.eval.use_ema = True
  config.eval.standing_stats_batches = 0  # 0: off (BigGAN uses 16)
  config.eval.truncation = config_dict.placeholder(float)
  config.eval.fid_every_steps = 0  # 0: off
  config.eval.fid_num_samples = 5_000
  config.eval.num_npz_samples = 10_000
  config.eval.sample_classes = ()  # empty: 10 evenly spaced classes
  config.eval.inception_size = 299  # the protocol; smaller only in tests
  config.eval.shapes_every_steps = 400  # shapes metrics of G_ema while training (0: off)
  config.eval.shapes_num_samples = 1_000  # = the real test images (StudioGAN's matching)
  return config
