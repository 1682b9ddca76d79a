"""Helpers of the training tests: tiny configs and subprocess runs of train.py."""

import os
import subprocess
import sys
from typing import Any, Dict, List

import ml_collections
from configs import default

# LLVM at -O0: compiles 2-3x faster on CPU and these tiny programs run no slower.
FAST_COMPILE = {"xla_backend_optimization_level": 0}
FAST_COMPILE_FLAG = "--xla_backend_optimization_level=0"

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# Small enough that a step compiles in seconds on a shared 2-core CPU.
TINY = {
    "batch_size": 8, "num_train_steps": 8,
    "model.g_ch": 8, "model.d_ch": 8,
    "model.g_multipliers": (4, 4, 2, 1), "model.d_multipliers": (1, 2, 4, 4),
    "ema.start_step": 2, "log_every_steps": 2, "checkpoint.every_steps": 2,
    "sample_every_steps": 0, "layout_every_steps": 0,
    "evals.shapes.every_steps": 0,  # tests/evaluation score the shapes metrics
}


def override(config: ml_collections.ConfigDict, values: Dict[str, Any]) -> ml_collections.ConfigDict:
  """Sets dotted fields, as `--config.a.b=v` would."""
  config.update_from_flattened_dict(values)
  return config


def as_flags(values: Dict[str, Any]) -> List[str]:
  return [f"--config.{k}={','.join(map(str, v)) if isinstance(v, tuple) else v}"
          for k, v in values.items()]


def tiny_config(data_dir: str) -> ml_collections.ConfigDict:
  config = override(default.get_config(), TINY)
  config.dataset.data_dir = data_dir
  return config


def subprocess_env(compile_cache: str, num_devices: int = 1, fast_compile: bool = True
                   ) -> Dict[str, str]:
  """The environment of a train.py subprocess; `fast_compile=False` keeps XLA's default
  optimisation, for runs long enough that step time outweighs compile time."""
  env = dict(os.environ)
  xla_flags = f"--xla_force_host_platform_device_count={num_devices}"
  env.update(XLA_FLAGS=f"{xla_flags} {FAST_COMPILE_FLAG}" if fast_compile else xla_flags,
             JAX_PLATFORMS="cpu", TF_CPP_MIN_LOG_LEVEL="2",
             JAX_COMPILATION_CACHE_DIR=compile_cache,
             JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0",
             JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES="0")
  return env


DEFAULT_CONFIG = os.path.join(REPO, "configs", "default.py")
# The default config with an inception evaluator `fid` beside `shapes`.
WITH_FID_CONFIG = os.path.join(REPO, "tests", "evaluation", "tiny_config.py")


def start_training(workdir: str, data_dir: str, compile_cache: str, *extra: str,
                   num_devices: int = 1, log_path: str | None = None,
                   env: Dict[str, str] | None = None, script: str = "train.py",
                   config_file: str = DEFAULT_CONFIG) -> subprocess.Popen:
  """`python train.py` (or `script`, relative to the repository, with its flags) on the tiny
  default config (or `config_file` made tiny), output to `log_path` (or a pipe), in `env`
  (default: `subprocess_env`)."""
  command = [sys.executable, os.path.join(REPO, script),
             f"--config={config_file}", f"--workdir={workdir}",
             *as_flags(TINY), f"--config.dataset.data_dir={data_dir}", *extra]
  output = open(log_path, "w") if log_path else subprocess.PIPE
  return subprocess.Popen(command, cwd=REPO, env=env or subprocess_env(compile_cache, num_devices),
                          stdout=output, stderr=subprocess.STDOUT, text=True)
