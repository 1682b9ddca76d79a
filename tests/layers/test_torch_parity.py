"""PyTorch parity: an AN module written in PyTorch from the equations, loaded
with the Flax parameters, gives the Flax output within 1e-5."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
from torch import nn

from an_flax import functional
from an_flax.layers import AttentiveNorm


class TorchAttentiveNorm(nn.Module):
  """AN in NCHW PyTorch, written from the paper (naive regional statistics)."""

  def __init__(self, channels, num_entities, kappa=10.0, eps=1e-5, key_pool=2):
    super().__init__()
    self.kappa, self.eps, self.key_pool = kappa, eps, key_pool
    self.entity = nn.Conv2d(channels, num_entities, 1, bias=False)
    self.key = nn.Conv2d(channels, channels // 8, 1)
    self.query = nn.Conv2d(channels, channels // 8, 1)
    self.value = nn.Conv2d(channels, channels, 1)
    self.alpha = nn.Parameter(torch.full((num_entities,), 0.1))
    self.rho = nn.Parameter(torch.zeros(()))

  def forward(self, x, positions=None):
    logits = self.entity(x)                                             # N n H W
    if positions is not None:
      keys = nn.functional.max_pool2d(self.key(x), self.key_pool) if self.key_pool > 1 else self.key(x)
      keys = keys.flatten(2)                                            # N c' P
      sampled = torch.stack([keys[b][:, positions[b]] for b in range(x.shape[0])])  # N c' n
      activations = torch.einsum("nchw,nck->nkhw", self.query(x), sampled)
      logits = logits + self.alpha.clamp(0, 1)[None, :, None, None] * activations
    layout = torch.softmax(logits / self.kappa, dim=1)[:, :, None]     # N n 1 H W
    v = self.value(x)[:, None]                                          # N 1 C H W
    mass = layout.sum(dim=(3, 4), keepdim=True) + self.eps
    mean = (layout * v).sum(dim=(3, 4), keepdim=True) / mass
    var = (layout * (v - mean) ** 2).sum(dim=(3, 4), keepdim=True) / mass
    normalized = (layout * (v - mean) / torch.sqrt(var + self.eps)).sum(dim=1)
    return x + self.rho * normalized


def _load(torch_module, params):
  """Flax (1, 1, in, out) kernels -> PyTorch (out, in, 1, 1) weights."""
  with torch.no_grad():
    for name in ("entity", "key", "query", "value"):
      conv = getattr(torch_module, name)
      conv.weight.copy_(torch.from_numpy(np.asarray(params[name]["kernel"]).transpose(3, 2, 0, 1).copy()))
      if conv.bias is not None:
        conv.bias.copy_(torch.from_numpy(np.array(params[name]["bias"])))
    torch_module.alpha.copy_(torch.from_numpy(np.array(params["alpha"])))
    torch_module.rho.copy_(torch.tensor(float(params["rho"])))


@pytest.mark.parametrize("train", [False, True])
def test_pytorch_port_gives_the_same_output(monkeypatch, train):
  rng = np.random.default_rng()
  x = rng.standard_normal((2, 8, 8, 32)).astype(np.float32)
  module = AttentiveNorm(num_entities=8)
  params = dict(module.init(jax.random.PRNGKey(int(rng.integers(1 << 31))), x)["params"])
  params["rho"] = jnp.float32(0.8)
  params["alpha"] = jnp.asarray(rng.uniform(0.1, 0.9, 8), jnp.float32)

  drawn = []
  sample_positions = functional.sample_positions
  monkeypatch.setattr(functional, "sample_positions",
                      lambda *a, **k: drawn.append(sample_positions(*a, **k)) or drawn[-1])
  y = module.apply({"params": params}, x, train=train, rngs={"sampling": jax.random.PRNGKey(4)})

  torch_module = TorchAttentiveNorm(32, 8)
  _load(torch_module, params)
  positions = torch.from_numpy(np.array(drawn[0])) if train else None
  with torch.no_grad():
    expected = torch_module(torch.from_numpy(x.transpose(0, 3, 1, 2)), positions).numpy().transpose(0, 2, 3, 1)
  np.testing.assert_allclose(np.asarray(y), expected, rtol=1e-5, atol=1e-5)
