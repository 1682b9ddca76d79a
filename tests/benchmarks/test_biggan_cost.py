"""benchmarks/biggan_cost.py runs at a toy size and prints its table (no timing is asserted)."""

import os
import re
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np

from benchmarks import biggan_cost

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _parameters(module, *inputs) -> int:
  abstract = jax.eval_shape(lambda *x: module.init(jax.random.key(0), *x), *inputs)
  return int(sum(np.prod(leaf.shape) for leaf in jax.tree.leaves(abstract["params"])))


def test_table_has_both_networks_with_their_parameters(tmp_path):
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
  for name, kind in biggan_cost.VARIANTS:
    row = re.search(rf"^\| {name} \| {kind} \| ({number}) \| ({number}) \|"
                    + rf" {number} \|" * 4 + "$", table, re.M)
    assert row, table
    generator, discriminator = biggan_cost.models(16, 4, 10, kind)
    labels = jax.ShapeDtypeStruct((1,), jnp.int32)
    assert int(row.group(1).replace(",", "")) == _parameters(
        generator, jax.ShapeDtypeStruct((1, 60), jnp.float32), labels)
    assert int(row.group(2).replace(",", "")) == _parameters(
        discriminator, jax.ShapeDtypeStruct((1, 16, 16, 3), jnp.float32), labels)
  assert re.search(r"^BigGAN-AN / BigGAN: step [0-9.]+x, temporaries [0-9.]+x, total memory "
                   r"[0-9.]+x\.$", table, re.M), table
