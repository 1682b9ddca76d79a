"""`python -m an_flax.convert.biggan`: StudioGAN's and BigGAN-PyTorch's BigGAN files (random
weights, 128x128 with every block at ch 8, 10 classes) into train states whose G_ema draws
the PyTorch G's images (1e-4) and that `eval.py --mode=samples` reads."""

import importlib
import json
import os
import subprocess
import sys

import jax
import numpy as np
import pytest
import torch

from an_flax.convert import biggan as convert
from an_flax.convert.studiogan import StudioGANCheckpointError
from an_flax.evaluation.restore import restore_generator
from an_flax.runtime import mesh as mesh_lib
from benchmarks.pytorch import biggan as reference
from benchmarks.pytorch import studiogan as studiogan_reference
from convert.test_biggan import randomize_biggan_pytorch
from convert.test_studiogan import REPO, TOLERANCE, randomize
from training.helpers import override

CONFIGS = {"studiogan": "configs/studiogan/imagenet128_biggan.py",
           "biggan_pytorch": "configs/biggan_pytorch/imagenet128_bs256x8.py"}
SMALL = {"model.g_ch": 8, "model.d_ch": 8, "model.num_classes": 10}
SAMPLES = {"sampling.sample_classes": "0,3", "sampling.num_npz_samples": 4,
           "sampling.batch_size": 8}


def _flags(values):
  return [f"--config.{key}={value}" for key, value in values.items()]


def _config(checkpoint_format):
  module = CONFIGS[checkpoint_format][:-3].replace("/", ".")
  return override(importlib.import_module(module).get_config(), SMALL)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
  """{'studiogan': (G, G_ema path, D path), 'biggan_pytorch': (G, G_ema.pth path)}."""
  folder = tmp_path_factory.mktemp("biggan_files")
  rng = np.random.default_rng()
  torch.manual_seed(int(rng.integers(1 << 31)))
  g = reference.studiogan_generator(128, 10, 8, init="pytorch")
  d = reference.studiogan_discriminator(128, 10, 8, init="pytorch")
  randomize(g, rng)
  randomize(d, rng)
  g.eval(), d.eval()
  paths = (str(folder / "model=G_ema-best-weights-step=9.pth"), str(folder / "D.pth"))
  torch.save(studiogan_reference.checkpoint(g), paths[0])
  torch.save(studiogan_reference.checkpoint(d, step=9), paths[1])
  pytorch_g = reference.biggan_pytorch_generator(128, 10, 8, init="pytorch")
  randomize_biggan_pytorch(pytorch_g, rng)
  pytorch_g.eval()
  pytorch_path = str(folder / "G_ema.pth")
  torch.save(pytorch_g.state_dict(), pytorch_path)
  return {"studiogan": (g, *paths), "biggan_pytorch": (pytorch_g, pytorch_path)}


def _run(*args):
  return subprocess.run([sys.executable, *args], cwd=REPO, capture_output=True, text=True,
                        timeout=600, env={**os.environ, "JAX_PLATFORMS": "cpu"})


def _torch_images(checkpoint_format, g, z, labels):
  with torch.no_grad():
    labels = torch.from_numpy(labels)
    condition = g.shared(labels) if checkpoint_format == "biggan_pytorch" else labels
    return g(torch.from_numpy(z), condition).numpy().transpose(0, 2, 3, 1)


@pytest.mark.parametrize("checkpoint_format, step", [("studiogan", 9), ("biggan_pytorch", 0)])
def test_converted_file_draws_its_images_and_eval_samples_it(checkpoint_format, step, files,
                                                             tmp_path):
  g, g_path, *d_path = files[checkpoint_format]
  workdir = str(tmp_path / "run")
  result = _run("-m", "an_flax.convert.biggan", f"--config={CONFIGS[checkpoint_format]}",
                *_flags(SMALL), f"--checkpoint={g_path}", f"--workdir={workdir}",
                f"--format={checkpoint_format}", *(f"--discriminator={p}" for p in d_path))
  assert result.returncode == 0, result.stderr[-3000:]
  assert os.path.join(workdir, "checkpoints", str(step)) in result.stdout
  assert f"python eval.py --config={CONFIGS[checkpoint_format]}" in result.stdout

  config = _config(checkpoint_format)
  restored = restore_generator(config, workdir, mesh_lib.create_mesh())
  assert restored.step == step and restored.use_ema
  rng = np.random.default_rng()
  z = rng.standard_normal((4, 120)).astype(np.float32)
  labels = rng.integers(0, 10, 4)
  images = jax.jit(lambda v, z, y: restored.generator.apply(v, z, y, train=False))(
      restored.variables, z, labels)
  diff = float(np.abs(np.asarray(images) - _torch_images(checkpoint_format, g, z, labels)).max())
  print(f"{checkpoint_format}: max |image diff| {diff:.2e}")
  assert diff <= TOLERANCE

  result = _run("eval.py", f"--config={CONFIGS[checkpoint_format]}", *_flags(SMALL),
                *_flags(SAMPLES), f"--workdir={workdir}", "--mode=samples")
  assert result.returncode == 0, result.stderr[-3000:]
  folder = os.path.join(workdir, f"samples_{step}")
  with np.load(os.path.join(folder, "samples.npz")) as saved:
    assert saved["images"].shape == (4, 128, 128, 3) and saved["images"].std() > 0
  assert {"class_0.png", "class_3.png", "interp_class.png"} <= set(os.listdir(folder))
  with open(os.path.join(folder, "info.json")) as f:
    assert json.load(f)["step"] == step


@pytest.mark.parametrize("case, match", [
    ("resnet_config", r"config\.model\.architecture is 'resnet'; BigGAN's checkpoints need "
                      r"'biggan'"),
    ("studiogan_layers", r"config\.model\.g_bn_epsilon is 0\.0001; BigGAN-PyTorch's layers "
                         r"need 1e-05: use configs/biggan_pytorch/imagenet128_bs256x8\.py"),
    ("studiogan_file", r"'linear0\.\w+' is not a key of BigGAN-PyTorch's G"),
    ("pytorch_discriminator", r"--discriminator: BigGAN-PyTorch's D is not converted"),
])
def test_a_file_config_or_format_that_does_not_fit_is_named(case, match, files, tmp_path):
  config, path = _config("biggan_pytorch"), files["biggan_pytorch"][1]
  discriminator = None
  if case == "resnet_config":
    config = importlib.import_module("configs.studiogan.imagenet128_sngan").get_config()
  elif case == "studiogan_layers":
    config = _config("studiogan")
  elif case == "studiogan_file":
    path = files["studiogan"][1]
  else:
    discriminator = files["studiogan"][2]
  with pytest.raises(StudioGANCheckpointError, match=match):
    convert.convert(path, config, str(tmp_path), "biggan_pytorch", discriminator)
  assert not os.path.exists(tmp_path / "checkpoints")
