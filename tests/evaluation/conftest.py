"""Fixtures for the evaluation tests: a tiny checkpoint saved through the training
Checkpointer, the embedded data, a cheap stand-in for the Inception network (random
Inception weights: tests/conftest.py)."""

import functools
import importlib.util
import os
import pathlib
import subprocess
import sys

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from an_flax.evaluation import restore
from an_flax.metrics import networks
from an_flax.models import build_models
from an_flax.runtime import mesh as mesh_lib
from an_flax.runtime.checkpoints import Checkpointer
from an_flax.training.state import create_train_state, make_optimizers
from training.helpers import FAST_COMPILE_FLAG

ROOT = pathlib.Path(__file__).parents[2]
TINY_CONFIG = pathlib.Path(__file__).with_name("tiny_config.py")
CHECKPOINT_STEPS = (1, 3)


def _load_tiny_config() -> ml_collections.ConfigDict:
  spec = importlib.util.spec_from_file_location("eval_tiny_config", TINY_CONFIG)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module.get_config()


@pytest.fixture(scope="session")
def make_tiny_config():
  """make_tiny_config() -> a fresh tests/eval/tiny_config.py config."""
  return _load_tiny_config


@pytest.fixture
def tiny_config() -> ml_collections.ConfigDict:
  return _load_tiny_config()


@pytest.fixture(scope="session")
def checkpoint_steps() -> tuple[int, ...]:
  return CHECKPOINT_STEPS


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory) -> str:
  """Where the embedded symmetric_shapes set is generated (on first use)."""
  return str(tmp_path_factory.mktemp("tfds"))


@pytest.fixture(scope="session")
def workdir(tmp_path_factory) -> str:
  """A run directory with freshly initialised checkpoints of steps 1 and 3.

  G_ema's BatchNorm statistics are set near those a trained G would have (batch variances
  of about 0.3 at initialisation, instead of the initial 1), so samples vary visibly, and
  differ between the steps.
  """
  config = _load_tiny_config()
  workdir = str(tmp_path_factory.mktemp("run"))
  mesh = mesh_lib.create_mesh()
  generator, discriminator = build_models(config.model)
  g_tx, d_tx = make_optimizers(config)
  init = jax.jit(functools.partial(create_train_state, config, generator, discriminator,
                                   g_tx, d_tx), out_shardings=mesh_lib.replicated(mesh))
  state = init(jax.random.PRNGKey(0))
  checkpointer = Checkpointer(workdir, 1, len(CHECKPOINT_STEPS))
  for step in CHECKPOINT_STEPS:
    ema_state = dict(state.ema_state, batch_stats=jax.tree_util.tree_map_with_path(
        lambda path, x: jnp.full_like(x, (0.3 if path[-1].key == "var" else 0.0) + 0.01 * step),
        state.ema_state["batch_stats"]))
    checkpointer.save(step, state.replace(step=jnp.asarray(step, jnp.int32),
                                         ema_state=ema_state), config)
  checkpointer.wait()
  checkpointer.close()
  return workdir


@pytest.fixture(scope="session")
def run_eval(tmp_path_factory):
  """run_eval(*flags, check=True): `python eval.py --config=tiny_config.py *flags` from the
  repository root on 8 CPU devices, as a user runs it. The runs share a persistent
  compilation cache: they compile the same generator and Inception network."""
  env = {**os.environ,
         "XLA_FLAGS": f"--xla_force_host_platform_device_count=8 {FAST_COMPILE_FLAG}",
         "JAX_PLATFORMS": "cpu", "TF_CPP_MIN_LOG_LEVEL": "2",
         "JAX_COMPILATION_CACHE_DIR": str(tmp_path_factory.mktemp("jax_cache")),
         "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0.5"}

  def run(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run([sys.executable, "eval.py", f"--config={TINY_CONFIG}", *args],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    if check and result.returncode:
      pytest.fail(f"eval.py {' '.join(args)} failed:\n{result.stderr[-5000:]}")
    return result

  return run


@pytest.fixture(scope="module")
def setup(workdir, make_tiny_config):
  """(config, mesh, generator, restored TrainState, G_ema variables)."""
  config = make_tiny_config()
  mesh = mesh_lib.create_mesh()
  state, _, _ = restore.restore_train_state(config, workdir, mesh)
  generator, _ = build_models(config.model)
  return config, mesh, generator, state, {"params": state.ema_params, **state.ema_state}


class FakeInception:
  """Stands in for `make_feature_extractor`: 5 cheap features of uint8 images that differ
  between resize modes, and 1008 logits (with or without a fixed random 'fc bias'); records
  the options of every extractor built."""

  _rng = np.random.default_rng(0)
  KERNEL, BIAS = _rng.normal(size=(5, 1008)), _rng.normal(size=1008)
  POWERS = {"legacy": 1.0, "clean": 1.5, "friendly": 0.5}

  def __init__(self):
    self.builds = []

  def __call__(self, variables, *, mesh=None, image_size=299, logits_with_bias=False,
               resize="legacy"):
    del variables, mesh
    self.builds.append({"image_size": image_size, "logits_with_bias": logits_with_bias,
                        "resize": resize})
    return functools.partial(self.extract, resize=resize, logits_with_bias=logits_with_bias)

  @classmethod
  def extract(cls, images, resize="legacy", logits_with_bias=False, process_local=False):
    del process_local  # one process: its rows of a batch are all the rows
    x = np.asarray(images, np.float64) / 255.0
    features = np.concatenate([x.mean(axis=(1, 2)), x.std(axis=(1, 2, 3))[:, None],
                               (x ** cls.POWERS[resize]).max(axis=(1, 2, 3))[:, None]], axis=1)
    logits = 5.0 * features @ cls.KERNEL + (cls.BIAS if logits_with_bias else 0.0)
    return features.astype(np.float32), logits.astype(np.float32)


@pytest.fixture
def fake_inception(monkeypatch) -> FakeInception:
  """The Inception evaluators and protocols build `FakeInception` extractors."""
  fake = FakeInception()
  monkeypatch.setattr(networks, "make_feature_extractor", fake)
  return fake
