"""Gradient accumulation: `steps.accumulate` against PyTorch's accumulation loop (a
transcription of StudioGAN's worker and BigGAN-PyTorch's train_fns: loss / n, backward per
micro-batch, one optimiser step), BatchNorm included; the step reading every micro-batch."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch

from an_flax.training import steps
from an_flax.training.task import GanTask
from training.recipe_helpers import Step, random_batch, recipe_config
from training.test_step import _assert_same_state

FEATURES, OUTPUTS, MICRO, STEPS = 5, 6, 4, 3


class Net(nn.Module):
  """Dense -> BatchNorm (torch's momentum 0.1, eps 1e-5) -> tanh."""

  @nn.compact
  def __call__(self, x):
    x = nn.Dense(OUTPUTS)(x)
    return jnp.tanh(nn.BatchNorm(use_running_average=False, momentum=0.9, epsilon=1e-5)(x))


def _torch_accumulation(params, xs, targets):
  """StudioGAN's loop: for each micro-batch, loss / n backward; the grads and BN buffers."""
  linear, bn = torch.nn.Linear(FEATURES, OUTPUTS), torch.nn.BatchNorm1d(OUTPUTS)
  with torch.no_grad():
    tensor = lambda x: torch.from_numpy(np.array(x, np.float32))
    linear.weight.copy_(tensor(params["Dense_0"]["kernel"]).T)
    linear.bias.copy_(tensor(params["Dense_0"]["bias"]))
    bn.weight.copy_(tensor(params["BatchNorm_0"]["scale"]))
    bn.bias.copy_(tensor(params["BatchNorm_0"]["bias"]))
  for x, target in zip(xs, targets):
    out = torch.tanh(bn(linear(torch.from_numpy(x))))
    loss = torch.mean((out - torch.from_numpy(target)) ** 2) / len(xs)
    loss.backward()
  return linear, bn


@pytest.mark.parametrize("loop", ["scan", "unroll"])
def test_accumulate_is_pytorchs_accumulation_loop(loop):
  """The mean gradient over the micro-batches, each normalised by its own statistics, and
  the running statistics moved once per micro-batch in order (the mean against torch's;
  the variance against the formula: torch keeps the unbiased batch variance, Flax the
  biased one). Tolerance 1e-5 (float32 against float32 / float64)."""
  rng = np.random.default_rng()
  xs = rng.standard_normal((STEPS, MICRO, FEATURES)).astype(np.float32) * rng.uniform(
      0.5, 2.0, (STEPS, 1, 1)).astype(np.float32) + rng.normal(0, 1, (STEPS, 1, 1)).astype(
          np.float32)
  targets = rng.standard_normal((STEPS, MICRO, OUTPUTS)).astype(np.float32)
  net = Net()
  variables = net.init(jax.random.PRNGKey(int(rng.integers(1 << 30))), xs[0])
  params = jax.tree.map(lambda p: p + 0.1 * rng.standard_normal(p.shape).astype(np.float32),
                        variables["params"])

  def gradients(params, batch_stats, micro):
    x, target = micro

    def loss_fn(params):
      out, mutated = net.apply({"params": params, "batch_stats": batch_stats}, x,
                               mutable=["batch_stats"])
      return jnp.mean((out - target) ** 2), mutated["batch_stats"]

    (loss, batch_stats), grads = jax.value_and_grad(loss_fn, has_aux=True)(params)
    return grads, batch_stats, {"loss": loss}

  grads, batch_stats, metrics = jax.jit(lambda p, s, xs, t: steps.accumulate(
      gradients, p, s, (xs, t), STEPS, loop))(params, variables["batch_stats"], xs, targets)

  linear, bn = _torch_accumulation(params, xs, targets)
  # Gradients through a micro-batch's normalisation carry float32 rounding divided by its
  # std: 1e-5 absolute, as the docstring says (7.3e-6 was seen).
  np.testing.assert_allclose(grads["Dense_0"]["kernel"], linear.weight.grad.numpy().T,
                             rtol=1e-5, atol=1e-5)
  np.testing.assert_allclose(grads["Dense_0"]["bias"], linear.bias.grad.numpy(), atol=1e-5)
  np.testing.assert_allclose(grads["BatchNorm_0"]["scale"], bn.weight.grad.numpy(), atol=1e-5)
  np.testing.assert_allclose(grads["BatchNorm_0"]["bias"], bn.bias.grad.numpy(), atol=1e-5)
  np.testing.assert_allclose(batch_stats["BatchNorm_0"]["mean"], bn.running_mean.numpy(),
                             rtol=1e-5, atol=1e-6)
  hidden = xs.astype(np.float64) @ np.asarray(params["Dense_0"]["kernel"], np.float64) + \
      np.asarray(params["Dense_0"]["bias"], np.float64)
  var = np.ones(OUTPUTS)
  for h in hidden:  # torch's update with the biased variance, micro-batch by micro-batch
    var = 0.9 * var + 0.1 * h.var(axis=0)
  np.testing.assert_allclose(batch_stats["BatchNorm_0"]["var"], var, rtol=1e-5)
  with torch.no_grad():
    losses = [torch.mean((torch.tanh(torch.nn.functional.batch_norm(
        torch.from_numpy(h.astype(np.float32)), None, None, bn.weight, bn.bias, training=True))
                          - torch.from_numpy(t)) ** 2).item() for h, t in zip(hidden, targets)]
  np.testing.assert_allclose(metrics["loss"], np.mean(losses), rtol=1e-5)


def test_one_micro_batch_is_a_plain_call():
  """steps == 1 calls the function once on the inputs as they are (no leading axis)."""
  calls = []

  def gradients(params, carry, micro):
    calls.append(micro.shape)
    return jax.tree.map(lambda p: p * micro.sum(), params), carry + 1, {"m": micro.sum()}

  grads, carry, metrics = steps.accumulate(gradients, {"w": jnp.ones(2)}, 0, jnp.ones(3), 1,
                                           "scan")
  assert calls == [(3,)] and carry == 1 and float(metrics["m"]) == 3.0
  np.testing.assert_array_equal(grads["w"], [3.0, 3.0])


def test_a_step_reads_every_micro_batch_of_every_update():
  """d_steps 2 x accumulation 2: the task takes 4 batches a step; changing any one of them
  changes D; the scanned and the unrolled step agree (as test_step compares them)."""
  config = recipe_config(**{"optim.d_steps": 2, "optim.accumulation_steps": 2})
  assert GanTask(config).batches_per_step == 4
  step = Step(config)
  rng = np.random.default_rng()
  batch = random_batch(config, rng)
  state, metrics = step.run(batch)
  assert metrics["finite"] == 1 and all(np.isfinite(v) for v in metrics.values())
  for index in range(4):
    changed = {"image": batch["image"].copy(), "label": batch["label"]}
    changed["image"][index] = rng.integers(0, 256, changed["image"][index].shape, np.uint8)
    other, _ = step.run(changed)
    assert any(not np.array_equal(a, b) for a, b in zip(
        jax.tree.leaves(state.d_params), jax.tree.leaves(other.d_params))), index
  scanned, scanned_metrics = Step(config, d_loop="scan").run(batch)
  _assert_same_state(state, scanned, lr=config.optim.g_lr)
  for name, value in metrics.items():
    np.testing.assert_allclose(value, scanned_metrics[name], rtol=1e-5, err_msg=name)
