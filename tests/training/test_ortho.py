"""G's orthogonal regularisation against a transcription of BigGAN-PyTorch's `utils.ortho`."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import torch

from an_flax.training import ortho
from benchmarks.pytorch import biggan as reference


class _Layers(torch.nn.Module):
  """One parameter of every kind G has, and an embedding that is not blacklisted."""

  def __init__(self):
    super().__init__()
    self.conv3 = torch.nn.Conv2d(4, 6, 3)
    self.conv1 = torch.nn.Conv2d(6, 5, 1, bias=False)
    self.linear = torch.nn.Linear(7, 3)
    self.embed = torch.nn.Embedding(5, 4)
    self.shared = torch.nn.Embedding(10, 4)
    self.gain = torch.nn.Parameter(torch.ones(6))
    self.gamma = torch.nn.Parameter(torch.tensor(0.3))


def _ours(tensors):
  """Our layout of the module's tensors (weights or gradients): HWIO, (in, out)."""
  array = lambda name: jnp.asarray(tensors[name].detach().numpy())
  return {"conv3": {"kernel": array("conv3.weight").transpose(2, 3, 1, 0),
                    "bias": array("conv3.bias")},
          "conv1": {"kernel": array("conv1.weight").transpose(2, 3, 1, 0)},
          "linear": {"kernel": array("linear.weight").T, "bias": array("linear.bias")},
          "embed": {"embedding": array("embed.weight")},
          "shared": {"embedding": array("shared.weight")},
          "bn": {"scale": array("gain")}, "gamma": array("gamma")}


def test_gradients_are_biggan_pytorchs():
  """Every >= 2-d parameter but the shared embedding gains BigGAN-PyTorch's term, with
  torch's rows (conv / dense outputs, embedding classes); the rest keep their gradients."""
  torch.manual_seed(int(np.random.default_rng().integers(1 << 31)))
  layers = _Layers()
  for param in layers.parameters():
    param.grad = torch.randn_like(param)
  grads = _ours({name: p.grad for name, p in layers.named_parameters()})
  params = _ours(dict(layers.named_parameters()))
  strength = 0.3  # large, so the term is of the gradients' size
  reference.ortho(layers, strength, blacklist=list(layers.shared.parameters()))
  expected = _ours({name: p.grad for name, p in layers.named_parameters()})
  ours = jax.jit(lambda p, g: ortho.orthogonal_gradients(p, g, strength))(params, grads)
  for path, value in jax.tree_util.tree_leaves_with_path(expected):
    np.testing.assert_allclose(_at(ours, path), value, rtol=1e-5, atol=1e-6,
                               err_msg=jax.tree_util.keystr(path))
  changed = {jax.tree_util.keystr(path) for path, value in
             jax.tree_util.tree_leaves_with_path(expected) if not np.allclose(
                 value, _at(grads, path))}
  assert changed == {"['conv3']['kernel']", "['conv1']['kernel']", "['linear']['kernel']",
                     "['embed']['embedding']"}


def _at(tree, path):
  for key in path:
    tree = tree[key.key]
  return np.asarray(tree)


def test_optax_link_adds_the_term_once_before_the_update():
  rng = np.random.default_rng()
  params = {"conv": {"kernel": jnp.asarray(rng.standard_normal((3, 3, 4, 8)), jnp.float32)},
            "shared": {"embedding": jnp.asarray(rng.standard_normal((5, 4)), jnp.float32)}}
  grads = jax.tree.map(lambda x: jnp.asarray(rng.standard_normal(x.shape), jnp.float32), params)
  tx = optax.chain(ortho.add_orthogonal_gradients(1e-2), optax.sgd(1.0))
  updates, _ = tx.update(grads, tx.init(params), params)
  expected = ortho.orthogonal_gradients(params, grads, 1e-2)
  jax.tree.map(lambda u, e: np.testing.assert_allclose(-u, e, rtol=1e-6), updates, expected)
  np.testing.assert_array_equal(-updates["shared"]["embedding"], grads["shared"]["embedding"])
