"""BigGAN checkpoints in, the same images out: `an_flax.convert.biggan` against the PyTorch
transcriptions of StudioGAN's big_resnet G and D and BigGAN-PyTorch's G
(benchmarks/pytorch/biggan.py), with random weights, BatchNorm statistics and spectral-norm
vectors, saved as each codebase saves them; eval mode, truncated z."""

import os

import jax
import numpy as np
import pytest
import torch

from an_flax.convert import biggan as convert
from an_flax.convert.studiogan import StudioGANCheckpointError
from an_flax.evaluation.generate import sample_z
from an_flax.models import biggan
from an_flax.models.blocks import NonLocal
from benchmarks.pytorch import biggan as reference
from benchmarks.pytorch import studiogan as studiogan_reference
from convert.test_studiogan import randomize, torch_logits

TOLERANCE = 1e-4  # images in [-1, 1]; logits relative to their size
TRUNCATION = 0.5


def _seeded(rng):
  torch.manual_seed(int(rng.integers(1 << 31)))


def randomize_biggan_pytorch(G, rng):
  """Trained-looking BigGAN-PyTorch state: BatchNorm statistics and gains, attention gain,
  and u0 vectors that are neither unit nor singular vectors (as G_ema's averages are)."""
  array = lambda x: torch.from_numpy(np.asarray(x, np.float32))
  with torch.no_grad():
    for m in G.modules():
      if hasattr(m, "stored_mean"):
        m.stored_mean.copy_(array(rng.normal(0, 0.3, m.stored_mean.shape)))
        m.stored_var.copy_(array(rng.uniform(0.5, 2.0, m.stored_var.shape)))
      if isinstance(m, reference.bn):
        m.gain.copy_(array(rng.uniform(0.5, 1.5, m.gain.shape)))
        m.bias.copy_(array(rng.normal(0, 0.2, m.bias.shape)))
      if isinstance(m, reference.Attention):
        m.gamma.fill_(float(rng.uniform(0.5, 1.0)))
      if hasattr(m, "u0"):
        m.u0.copy_(array(rng.standard_normal(m.u0.shape) * rng.uniform(0.5, 2.0)))


def _inputs(rng, z_dim, num_classes, size, batch=4):
  z = np.array(sample_z(jax.random.key(int(rng.integers(1 << 31))), batch, z_dim,
                          TRUNCATION))
  labels = rng.integers(0, num_classes, batch)
  images = np.tanh(rng.standard_normal((batch, size, size, 3))).astype(np.float32)
  return z, labels, images


def _generate(generator, variables, z, labels):
  return np.asarray(jax.jit(lambda v, z, y: generator.apply(v, z, y, train=False))(
      variables, z, labels))


def _compare(ours, expected, what):
  # Pixels that carry the comparison: spread, and at least a quarter unsaturated (random
  # weights saturated 64% of one draw's pixels).
  assert expected.std() > 100 * TOLERANCE and np.mean(np.abs(expected) > 0.99) < 0.75
  diff = float(np.abs(ours - expected).max())
  print(f"{what}: max |image diff| {diff:.2e}")
  assert diff <= TOLERANCE
  return diff


def test_studiogan_biggan_gives_its_images_and_logits(tmp_path):
  """128x128 with the real blocks (ch 8: the widths of ch 96 divided by 12)."""
  size, ch = 128, 8
  rng = np.random.default_rng()
  _seeded(rng)
  classes = 10
  G = reference.studiogan_generator(size, classes, ch, init="pytorch")
  D = reference.studiogan_discriminator(size, classes, ch, init="pytorch")
  randomize(G, rng)
  randomize(D, rng)
  G.eval(), D.eval()
  g_path, d_path = tmp_path / "model=G_ema-best-weights-step=9.pth", tmp_path / "D.pth"
  torch.save(studiogan_reference.checkpoint(G), g_path)
  torch.save(studiogan_reference.checkpoint(D, step=9), d_path)
  generator, discriminator = biggan.Generator(classes, ch), biggan.discriminator(classes, ch)
  z_dim = 120
  z, labels, images = _inputs(rng, z_dim, classes, size)

  g_vars = convert.load_studiogan_generator(str(g_path), generator, z_dim)
  with torch.no_grad():
    expected = G(torch.from_numpy(z), torch.from_numpy(labels)).numpy().transpose(0, 2, 3, 1)
  _compare(_generate(generator, g_vars, z, labels), expected, f"StudioGAN {size}x{size}")

  d_vars = convert.load_studiogan_discriminator(str(d_path), discriminator, size)
  logits = np.asarray(jax.jit(lambda v, x, y: discriminator.apply(v, x, y, train=False))(
      d_vars, images, labels))
  expected_logits = torch_logits(D, images, labels)
  logit_diff = np.max(np.abs(logits - expected_logits) / np.maximum(1, np.abs(expected_logits)))
  print(f"StudioGAN D {size}x{size}: max logit diff / max(1, |logit|) {logit_diff:.2e}")
  assert logit_diff <= TOLERANCE


@pytest.fixture(scope="module")
def biggan_pytorch_file(tmp_path_factory):
  """BigGAN-PyTorch's G at 128x128, ch 8, 10 classes, randomised, saved as its G_ema.pth."""
  rng = np.random.default_rng()
  _seeded(rng)
  G = reference.biggan_pytorch_generator(128, 10, 8, init="pytorch")
  randomize_biggan_pytorch(G, rng)
  G.eval()
  path = str(tmp_path_factory.mktemp("biggan_pytorch") / "G_ema.pth")
  torch.save(G.state_dict(), path)
  return G, path


def test_biggan_pytorch_g_ema_gives_its_images(biggan_pytorch_file):
  G, path = biggan_pytorch_file
  rng = np.random.default_rng()
  generator = biggan.Generator(10, 8, layers=biggan.BIGGAN_PYTORCH_LAYERS)
  variables = convert.load_biggan_pytorch_generator(path, generator)
  z, labels, _ = _inputs(rng, 120, 10, 128)
  with torch.no_grad():
    expected = G(torch.from_numpy(z), G.shared(torch.from_numpy(labels))).numpy()
  _compare(_generate(generator, variables, z, labels), expected.transpose(0, 2, 3, 1),
           "BigGAN-PyTorch 128x128")
  # The state dict was left as it was: eval calls do not advance u0.
  np.testing.assert_array_equal(torch.load(path)["linear.u0"], G.linear.u0)


def _resave(path, tmp_path, edit):
  state = torch.load(path)
  edit(state)
  new = os.path.join(tmp_path, "edited.pth")
  torch.save(state, new)
  return new


@pytest.mark.parametrize("case, match", [
    ("wrong_width", r"'blocks\.0\.0\.bn1\.stored_mean' has shape \(128,\), the config's G "
                    r"expects \(256,\)"),
    ("missing_key", r"no 'blocks\.2\.0\.bn1\.bn\.running_var' \(StudioGAN's name\) \(expected "
                    r"shape \(64,\), for our G's batch_stats/block2/bn1/bn/var\)"),
    ("several_singular_values", r"'blocks\.0\.0\.conv1\.u1': spectral norm with several "
                                r"singular values \(num_G_SVs > 1\)"),
    ("studiogan_file", r"'linear0\.weight_orig' is not a key of BigGAN-PyTorch's G"),
    ("missing_file", r"No BigGAN-PyTorch checkpoint at"),
])
def test_a_biggan_pytorch_file_that_does_not_fit_is_named_in_its_own_keys(
    case, match, biggan_pytorch_file, tmp_path):
  _, path = biggan_pytorch_file
  generator = biggan.Generator(10, 8, layers=biggan.BIGGAN_PYTORCH_LAYERS)
  error = StudioGANCheckpointError
  if case == "wrong_width":
    generator = biggan.Generator(10, 16, layers=biggan.BIGGAN_PYTORCH_LAYERS)
  elif case == "missing_key":
    path = _resave(path, tmp_path, lambda s: s.pop("blocks.2.0.bn1.stored_var"))
  elif case == "several_singular_values":
    path = _resave(path, tmp_path, lambda s: s.update(
        {"blocks.0.0.conv1.u1": s["blocks.0.0.conv1.u0"]}))
  elif case == "studiogan_file":
    path = _resave(path, tmp_path, lambda s: s.update({"linear0.weight_orig": s["linear.weight"]}))
  else:
    path, error = os.path.join(tmp_path, "absent.pth"), FileNotFoundError
  with pytest.raises(error, match=match):
    convert.load_biggan_pytorch_generator(path, generator)


def test_biggan_pytorch_g_without_hierarchical_z_gives_its_images(tmp_path):
  """BigGAN-PyTorch without `--hier` (at 32x32, where `--G_attn 64` places no attention):
  all of z into the first linear, the shared embedding alone into every BatchNorm; our G
  with `hierarchical=False`."""
  rng = np.random.default_rng()
  _seeded(rng)
  G = reference.biggan_pytorch_generator(32, 10, 8, init="pytorch", hier=False)
  randomize_biggan_pytorch(G, rng)
  G.eval()
  path = str(tmp_path / "G_ema.pth")
  torch.save(G.state_dict(), path)
  generator = biggan.Generator(10, 8, hierarchical=False, multipliers=(4, 4, 4, 4),
                               nonlocal_=NonLocal(), layers=biggan.BIGGAN_PYTORCH_LAYERS)
  variables = convert.load_biggan_pytorch_generator(path, generator, z_dim=80)
  z, labels, _ = _inputs(rng, 80, 10, 32)
  with torch.no_grad():
    expected = G(torch.from_numpy(z), G.shared(torch.from_numpy(labels))).numpy()
  _compare(_generate(generator, variables, z, labels), expected.transpose(0, 2, 3, 1),
           "BigGAN-PyTorch 32x32 without hierarchical z")
