"""StudioGAN checkpoints in, the same images out: `an_flax.convert.studiogan` against the
PyTorch transcription of StudioGAN's networks (benchmarks/pytorch/studiogan.py), with
random weights, BatchNorm statistics and spectral-norm vectors, saved as StudioGAN saves."""

import builtins
import importlib
import os
import subprocess
import sys

import jax
import numpy as np
import pytest
import torch

from an_flax.convert import studiogan
from an_flax.convert.studiogan import StudioGANCheckpointError
from an_flax.evaluation.restore import restore_generator
from an_flax.runtime import mesh as mesh_lib
from benchmarks.pytorch import studiogan as reference

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TOLERANCE = 1e-4  # images in [-1, 1]; logits relative to their size


def randomize(module: torch.nn.Module, rng: np.random.Generator) -> None:
  """Trained-looking state: BN statistics and affine, attention weights, and SN vectors
  one power iteration from random, shrunk as an EMA of unit vectors is."""
  array = lambda x: torch.from_numpy(np.asarray(x, np.float32))
  with torch.no_grad():
    for m in module.modules():
      if isinstance(m, torch.nn.BatchNorm2d):
        m.running_mean.copy_(array(rng.normal(0, 0.3, m.running_mean.shape)))
        m.running_var.copy_(array(rng.uniform(0.5, 2.0, m.running_var.shape)))
        m.num_batches_tracked.fill_(1000)
        if m.affine:
          m.weight.copy_(array(rng.uniform(0.5, 1.5, m.weight.shape)))
          m.bias.copy_(array(rng.normal(0, 0.2, m.bias.shape)))
      if isinstance(m, reference.SelfAttention):
        m.sigma.fill_(float(rng.uniform(0.5, 1.0)))
      if hasattr(m, "weight_u"):
        w = m.weight_orig.reshape(m.weight_orig.shape[0], -1)
        v = torch.nn.functional.normalize(w.t() @ array(rng.standard_normal(w.shape[0])), dim=0)
        u = torch.nn.functional.normalize(w @ v, dim=0)
        m.weight_u.copy_(u * float(rng.uniform(0.9, 1.0)))
        m.weight_v.copy_(v * float(rng.uniform(0.9, 1.0)))


CLASSES = {32: 10, 64: 100, 128: 1000}  # CIFAR10, Baby ImageNet, ImageNet


def config_for(kind: str, size: int, g_conv_dim: int = 64, d_conv_dim: int | None = None):
  name = {32: "cifar10", 64: "baby_imagenet64", 128: "imagenet128"}[size]
  config = importlib.import_module(f"configs.studiogan.{name}_{kind}").get_config()
  config.model.g_ch, config.model.d_ch = g_conv_dim, d_conv_dim or g_conv_dim
  return config


def save_studiogan(folder, kind, size, g_conv_dim, rng, d_conv_dim=None, step=77,
                   data_parallel=False):
  """StudioGAN's G and D (PyTorch default init: cheap; orthogonal init of the full-size
  nets takes half a minute), randomised, saved as its worker saves them."""
  torch.manual_seed(int(rng.integers(1 << 31)))
  G, D = getattr(reference, kind)(size, CLASSES[size], g_conv_dim, d_conv_dim or g_conv_dim,
                                  init="pytorch")
  randomize(G, rng)
  randomize(D, rng)
  G.eval(), D.eval()
  g_states = reference.checkpoint(G, torch.optim.Adam(G.parameters(), betas=(0.0, 0.999)))
  d_states = reference.checkpoint(D, torch.optim.Adam(D.parameters()), step=step)
  d_states["best_fid"] = np.float64(31.49)  # StudioGAN pickles numpy scalars
  if data_parallel:
    g_states["state_dict"] = {f"module.{k}": v for k, v in g_states["state_dict"].items()}
  paths = (os.path.join(folder, f"model=G-best-weights-step={step}.pth"),
           os.path.join(folder, f"model=D-best-weights-step={step}.pth"))
  torch.save(g_states, paths[0])
  torch.save(d_states, paths[1])
  return G, D, paths


def torch_images(G, z, labels):
  with torch.no_grad():
    return G(torch.from_numpy(z), torch.from_numpy(labels)).numpy().transpose(0, 2, 3, 1)


def torch_logits(D, images, labels):
  with torch.no_grad():
    return D(torch.from_numpy(images.transpose(0, 3, 1, 2).copy()), torch.from_numpy(labels)).numpy()


def inputs(rng, config, batch=4):
  size = config.model.resolution
  z = rng.standard_normal((batch, config.model.z_dim)).astype(np.float32)
  labels = rng.integers(0, config.model.num_classes, batch)
  images = np.tanh(rng.standard_normal((batch, size, size, 3))).astype(np.float32)
  return z, labels, images


# The real widths (g_conv_dim = d_conv_dim = 64), except D at 128x128 (same blocks; a
# quarter of the width keeps the test's time) and the 64x64 nets, checked at a quarter.
@pytest.mark.parametrize("kind, size, g_conv_dim, d_conv_dim", [
    ("sngan", 32, 64, 64), ("sagan", 32, 64, 64), ("sagan", 64, 16, 16),
    ("sngan", 128, 64, 16), ("sagan", 128, 64, 16)])
def test_converted_networks_give_studiogans_images_and_logits(kind, size, g_conv_dim,
                                                              d_conv_dim, tmp_path,
                                                              record_property):
  rng = np.random.default_rng()
  G, D, (g_path, d_path) = save_studiogan(tmp_path, kind, size, g_conv_dim, rng, d_conv_dim,
                                          data_parallel=kind == "sagan" and size == 32)
  config = config_for(kind, size, g_conv_dim, d_conv_dim)
  z, labels, images = inputs(rng, config)

  generator, g_vars = studiogan.load_generator(g_path, config)
  ours = np.asarray(jax.jit(lambda v, z, y: generator.apply(v, z, y, train=False))(
      g_vars, z, labels))
  expected = torch_images(G, z, labels)
  # Not constant and mostly not saturated, so the pixels carry the comparison: they spread
  # 100x the tolerance and at most half sit at tanh's ends. Random draws gave stds down to
  # 0.027 (128x128 SN-GAN, 21 draws) and saturated fractions up to 0.29 (64x64 SA-GAN, 150).
  assert expected.std() > 100 * TOLERANCE and np.mean(np.abs(expected) > 0.99) < 0.5
  image_diff = float(np.abs(ours - expected).max())

  discriminator, d_vars = studiogan.load_discriminator(d_path, config)
  logits = np.asarray(jax.jit(lambda v, x, y: discriminator.apply(v, x, y, train=False))(
      d_vars, images, labels))
  expected_logits = torch_logits(D, images, labels)
  logit_diff = float(np.max(np.abs(logits - expected_logits) / np.maximum(
      1.0, np.abs(expected_logits))))
  record_property("max_abs_image_diff", image_diff)
  record_property("max_rel_logit_diff", logit_diff)
  print(f"{kind} {size}x{size}: max |image diff| {image_diff:.2e}, "
        f"max logit diff / max(1, |logit|) {logit_diff:.2e}")
  assert image_diff <= TOLERANCE and logit_diff <= TOLERANCE


def test_train_mode_advances_state_as_studiogan_does(tmp_path):
  """A fine-tuning step sees torch's spectral norm: the same train-mode outputs (batch
  statistics, one power iteration) and the same new u, v and BN running means."""
  rng = np.random.default_rng()
  G, D, (g_path, d_path) = save_studiogan(tmp_path, "sagan", 32, 8, rng)
  config = config_for("sagan", 32, 8)
  z, labels, images = inputs(rng, config, batch=8)
  generator, g_vars = studiogan.load_generator(g_path, config)
  discriminator, d_vars = studiogan.load_discriminator(d_path, config)
  ours, g_new = jax.jit(lambda v, z, y: generator.apply(
      v, z, y, train=True, mutable=["batch_stats", "spectral"]))(g_vars, z, labels)
  logits, d_new = jax.jit(lambda v, x, y: discriminator.apply(
      v, x, y, train=True, mutable=["spectral"]))(d_vars, images, labels)

  G.train(), D.train()
  expected, expected_logits = torch_images(G, z, labels), torch_logits(D, images, labels)
  np.testing.assert_allclose(ours, expected, atol=TOLERANCE)
  np.testing.assert_allclose(logits, expected_logits, rtol=TOLERANCE, atol=TOLERANCE)
  torch.save(reference.checkpoint(G), g_path)
  torch.save(reference.checkpoint(D), d_path)
  _, g_torch = studiogan.load_generator(g_path, config)
  _, d_torch = studiogan.load_discriminator(d_path, config)
  for new, advanced in ((g_new["spectral"], g_torch["spectral"]),
                        (d_new["spectral"], d_torch["spectral"])):
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, atol=1e-5), new, advanced)
  means = lambda tree: {k: v for k, v in jax.tree_util.tree_leaves_with_path(tree)
                        if jax.tree_util.keystr(k).endswith("['mean']")}
  ours_means, torch_means = means(g_new["batch_stats"]), means(g_torch["batch_stats"])
  assert ours_means.keys() == torch_means.keys() and ours_means
  for key in ours_means:
    np.testing.assert_allclose(ours_means[key], torch_means[key], atol=1e-5)


def test_orthogonal_init_gives_orthonormal_kernels_as_torch_does():
  """model.init='orthogonal' (StudioGAN's 'ortho'): conv, dense and embedding kernels,
  flattened as torch flattens its weights, have orthonormal rows or columns, also under
  torch's spectral norm (which keeps the initialiser's kernel)."""
  from an_flax.models import LayerOptions
  layers = LayerOptions(spectral_form="torch", init="orthogonal", cbn_form="one_plus")
  key = jax.random.key(int(np.random.default_rng().integers(1 << 31)))
  labels = np.arange(2)
  modules_and_inputs = [
      (layers.conv(16, 3, True, None, "conv"), (np.ones((2, 8, 8, 32)),)),
      (layers.embed(10, 32, None, "embed"), (labels,)),
      (layers.conditional_bn(10, True, None, "bn"), (np.ones((2, 4, 4, 32)), labels))]
  for module, args in modules_and_inputs:
    kernels = [leaf for leaf in jax.tree.leaves(module.init(key, *args)["params"])
               if leaf.ndim > 1]
    assert kernels
    for kernel in kernels:
      matrix = np.asarray(kernel).reshape(-1, kernel.shape[-1])
      small = matrix if matrix.shape[0] >= matrix.shape[1] else matrix.T
      np.testing.assert_allclose(small.T @ small, np.eye(small.shape[1]), atol=1e-5)


# ----------------------------------------------------------------------------
# Files and configs that do not fit.

@pytest.fixture(scope="module")
def tiny_files(tmp_path_factory):
  """{'sngan' | 'sagan': (G path, D path)}, StudioGAN's CIFAR10 nets at g_conv_dim 8, and
  'sagan_G': that torch G."""
  folder = tmp_path_factory.mktemp("studiogan")
  rng = np.random.default_rng()
  files = {}
  for kind in ("sngan", "sagan"):
    os.makedirs(folder / kind)
    files[kind + "_G"], _, files[kind] = save_studiogan(folder / kind, kind, 32, 8, rng)
  return files


def _resave(path, tmp_path, edit):
  states = torch.load(path, weights_only=False)
  edit(states["state_dict"])
  new = os.path.join(tmp_path, os.path.basename(path))
  torch.save(states, new)
  return new


@pytest.mark.parametrize("case, match", [
    ("discriminator_as_generator", r"is a discriminator's checkpoint .* --discriminator"),
    ("generator_as_discriminator", r"is a generator's checkpoint .* --checkpoint"),
    ("sagan_file_sngan_config", r"no 'blocks\.\d\.0\..*' \(expected shape .* more keys\. "
                                r"The file's layers are spectrally normalised: set config\."
                                r"model\.g_spectral_norm=True .* It has \d+ key\(s\) the "
                                r"config's G has not, e\.g\. .*another architecture"),
    ("missing_key", r"no 'blocks\.1\.0\.bn2\.bn\.running_var' \(expected shape \(32,\), "
                    r"for our G's batch_stats/block1/bn2/bn/var\)\.$"),
    ("wrong_shape", r"'blocks\.0\.0\.bn1\.(bias|gain)\.weight' has shape \(32, 10\), the "
                    r"config's G expects \(32, 20\)"),
    ("leftover_key", r"It has 1 key\(s\) the config's G has not, e\.g\. "
                     r"\['blocks\.9\.0\.sigma'\]"),
    ("not_a_state_dict", r"holds no state dict: StudioGAN saves a dict with 'state_dict'"),
    ("not_a_torch_file", r"is not a checkpoint torch can read"),
    ("other_layers", r"config\.model\.spectral_form is 'flax'; StudioGAN's layers need 'torch'"),
])
def test_a_file_or_config_that_does_not_fit_is_named(case, match, tiny_files, tmp_path):
  g_path, d_path = tiny_files["sngan"]
  config = config_for("sngan", 32, 8)
  load = studiogan.load_generator
  if case == "discriminator_as_generator":
    g_path = d_path
  elif case == "generator_as_discriminator":
    load = studiogan.load_discriminator
  elif case == "sagan_file_sngan_config":
    g_path = tiny_files["sagan"][0]
  elif case == "missing_key":
    g_path = _resave(g_path, tmp_path, lambda s: s.pop("blocks.1.0.bn2.bn.running_var"))
  elif case == "wrong_shape":
    config.model.num_classes = 20
  elif case == "leftover_key":
    g_path = _resave(g_path, tmp_path, lambda s: s.update({"blocks.9.0.sigma": torch.zeros(1)}))
  elif case == "not_a_state_dict":
    g_path = os.path.join(tmp_path, "list.pth")
    torch.save([1, 2, 3], g_path)
  elif case == "not_a_torch_file":
    g_path = os.path.join(tmp_path, "noise.pth")
    with open(g_path, "wb") as f:
      f.write(os.urandom(256))
  elif case == "other_layers":
    config = importlib.import_module("configs.cifar10_sngan").get_config()
  with pytest.raises(StudioGANCheckpointError, match=match) as error:
    load(g_path, config)
  assert isinstance(error.value, ValueError)


def test_missing_torch_says_how_to_install_it(tiny_files, monkeypatch):
  real_import = builtins.__import__

  def no_torch(name, *args, **kwargs):
    if name == "torch" or name.startswith("torch."):
      raise ImportError("No module named 'torch'")
    return real_import(name, *args, **kwargs)

  monkeypatch.setattr(builtins, "__import__", no_torch)
  with pytest.raises(ImportError, match=r"pip install torch==2\.13\.0"):
    studiogan.load_generator(tiny_files["sngan"][0], config_for("sngan", 32, 8))


# ----------------------------------------------------------------------------
# The command line.

def _convert(*args):
  return subprocess.run(
      [sys.executable, "-m", "an_flax.convert.studiogan",
       "--config=configs/studiogan/cifar10_sagan.py", "--config.model.g_ch=8",
       "--config.model.d_ch=8", *args],
      cwd=REPO, capture_output=True, text=True, timeout=300,
      env={**os.environ, "JAX_PLATFORMS": "cpu"})


def test_command_line_writes_a_train_state_that_evaluation_reads_as_g_ema(tiny_files, tmp_path):
  g_path, d_path = tiny_files["sagan"]
  workdir = str(tmp_path / "run")
  result = _convert(f"--checkpoint={g_path}", f"--discriminator={d_path}",
                    f"--workdir={workdir}")
  assert result.returncode == 0, result.stderr
  assert os.path.join(workdir, "checkpoints", "77") in result.stdout
  assert "python eval.py --config=configs/studiogan/cifar10_sagan.py" in result.stdout

  config = config_for("sagan", 32, 8)
  restored = restore_generator(config, workdir, mesh_lib.create_mesh())
  assert restored.step == 77 and restored.use_ema
  z, labels, _ = inputs(np.random.default_rng(), config)
  images = jax.jit(lambda v, z, y: restored.generator.apply(v, z, y, train=False))(
      restored.variables, z, labels)
  np.testing.assert_allclose(images, torch_images(tiny_files["sagan_G"], z, labels),
                             atol=TOLERANCE)


def test_command_line_names_a_wrong_file_in_one_line(tiny_files, tmp_path):
  result = _convert(f"--checkpoint={tiny_files['sagan'][1]}", f"--workdir={tmp_path}")
  assert result.returncode != 0
  assert "Traceback" not in result.stderr
  lines = [line for line in result.stderr.splitlines() if "an_flax.convert.studiogan:" in line]
  assert len(lines) == 1 and "is a discriminator's checkpoint" in lines[0], result.stderr
  assert not os.path.exists(tmp_path / "checkpoints")
