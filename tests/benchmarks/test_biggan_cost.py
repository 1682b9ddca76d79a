"""benchmarks/biggan_cost.py runs the shipped BigGAN configs at a toy size and prints its
table with their parameter counts (no timing is asserted)."""

import os
import re
import subprocess
import sys

import jax
import numpy as np

from an_flax.models import biggan, build_models
from an_flax.training import state as state_lib
from benchmarks import biggan_cost

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _parameters(config) -> tuple:
  """(G, D) parameter counts of `config`'s train state, traced."""
  generator, discriminator = build_models(config.model)
  assert isinstance(generator, biggan.Generator)
  g_tx, d_tx = state_lib.make_optimizers(config)
  state = jax.eval_shape(lambda key: state_lib.create_train_state(
      config, generator, discriminator, g_tx, d_tx, key), jax.random.PRNGKey(0))
  count = lambda tree: int(sum(np.prod(leaf.shape) for leaf in jax.tree.leaves(tree)))
  return count(state.g_params), count(state.d_params)


def test_table_has_both_configs_with_their_parameters(tmp_path):
  output = tmp_path / "biggan_cost.md"
  env = {**os.environ, "JAX_PLATFORMS": "cpu",
         "XLA_FLAGS": "--xla_backend_optimization_level=0"}  # compiles faster, one device
  result = subprocess.run(
      [sys.executable, "benchmarks/biggan_cost.py", "--resolution=16", "--ch=4",
       "--num_classes=10", "--batch_size=2", "--repeats=1", f"--output={output}"],
      cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
  assert result.returncode == 0, result.stderr[-3000:]
  table = output.read_text()
  assert "Device: cpu (1 device(s))" in table and "16x16, ch 4, 10 classes, batch 2" in table
  number = r"[0-9][0-9,.]*"
  counts = []
  for name, config_name in biggan_cost.VARIANTS:
    row = re.search(rf"^\| {name} \| {re.escape(config_name)} \| ({number}) \| ({number}) \|"
                    + rf" {number} \|" * 4 + "$", table, re.M)
    assert row, table
    counts.append(_parameters(biggan_cost.config(config_name, 16, 4, 10, 2, 1)))
    assert (int(row.group(1).replace(",", "")), int(row.group(2).replace(",", ""))) == counts[-1]
  assert counts[0] != counts[1]  # AN's projections and entities, not the attention's
  assert re.search(r"^BigGAN-AN / BigGAN: step [0-9.]+x, temporaries [0-9.]+x, total memory "
                   r"[0-9.]+x\.$", table, re.M), table
