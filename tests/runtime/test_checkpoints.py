"""Checkpoints: a kill mid-save keeps the previous one; incompatible configs are named."""

import os
import signal
import subprocess
import sys
import textwrap

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from an_flax.models import build_models
from an_flax.runtime import mesh as mesh_lib
from an_flax.training import state as state_lib
from an_flax.runtime.checkpoints import Checkpointer
from configs import default
from training.helpers import REPO, TINY, override

_KILLED_MID_SAVE = textwrap.dedent("""
    import os, signal, sys
    import jax.numpy as jnp, numpy as np
    from an_flax.runtime.checkpoints import Checkpointer
    from configs import default
    checkpointer = Checkpointer(sys.argv[1], every_steps=1, keep=3)
    checkpointer.save(1, {"w": jnp.arange(4.0)}, default.get_config())
    checkpointer.wait()
    big = np.random.default_rng(0).standard_normal(48_000_000, dtype=np.float32)  # 192 MB
    checkpointer.save(2, {"w": jnp.asarray(big[:4]), "big": jnp.asarray(big)},
                      default.get_config())
    os.kill(os.getpid(), signal.SIGKILL)  # while the asynchronous save is writing
""")


def test_kill_during_save_leaves_previous_checkpoint_restorable(tmp_path):
  result = subprocess.run([sys.executable, "-c", _KILLED_MID_SAVE, str(tmp_path)], cwd=REPO,
                          env={**os.environ, "JAX_PLATFORMS": "cpu"}, timeout=300,
                          capture_output=True, text=True)
  assert result.returncode == -signal.SIGKILL, result.stderr[-2000:]
  leftovers = os.listdir(tmp_path / "checkpoints")
  assert any("tmp" in name for name in leftovers), f"save finished before the kill: {leftovers}"

  checkpointer = Checkpointer(str(tmp_path), every_steps=1, keep=3)
  assert checkpointer.latest_step() == 1
  restored = checkpointer.restore(1, {"w": jax.ShapeDtypeStruct((4,), jnp.float32)},
                                  default.get_config())
  np.testing.assert_array_equal(restored["w"], np.arange(4.0))


def _tiny(**values):
  config = override(default.get_config(), {k: v for k, v in TINY.items() if "model." in k})
  return override(config, values)


def _zero_state(config):
  """A TrainState of the right shapes, without compiling the initialisers."""
  generator, discriminator = build_models(config.model)
  g_tx, d_tx = state_lib.make_optimizers(config)
  abstract = jax.eval_shape(lambda key: state_lib.create_train_state(
      config, generator, discriminator, g_tx, d_tx, key), jax.random.PRNGKey(0))
  return abstract, jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), abstract)


def test_incompatible_checkpoint_names_the_config_that_wrote_it(tmp_path):
  config = _tiny()
  _, state = _zero_state(config)
  checkpointer = Checkpointer(str(tmp_path), every_steps=1, keep=1)
  checkpointer.save(3, state, config)
  checkpointer.wait()

  wider = _tiny(**{"model.g_ch": 16})
  abstract, _ = _zero_state(wider)
  with pytest.raises(ValueError) as error:
    checkpointer.restore(3, abstract, wider)
  message = str(error.value)
  assert "incompatible config" in message
  assert "model.g_ch: checkpoint 8 vs this run 16" in message
  assert os.path.join(str(tmp_path), "checkpoints", "3", "config") in message

  # Fields that change no shape (compute dtype, kappa) restore fine.
  other = _tiny(**{"model.dtype": "bfloat16", "model.an.kappa": 5.0})
  replicated = mesh_lib.replicated(mesh_lib.create_mesh())
  abstract, _ = _zero_state(other)
  abstract = jax.tree.map(lambda s: jax.ShapeDtypeStruct(s.shape, s.dtype, sharding=replicated),
                          abstract)
  restored = checkpointer.restore(3, abstract, other)
  assert int(restored.step) == 0 and restored.g_params.keys() == state.g_params.keys()
  checkpointer.close()
