"""Times one compiled training step of each shipped config on the machine at hand.

  python benchmarks/train_step_time.py [--configs=default,imagenet128_an] [--batch_size=8]

Each config keeps its model and optimiser (including its D steps per G step)
at `--batch_size` per D step, on a mesh over all local devices. Prints a
markdown table and writes it to benchmarks/results/train_step_time_<device>.md.
"""

import importlib
import os
import re
import statistics
import sys
import time

import jax
import numpy as np
from absl import app, flags

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from an_flax.models import build_models  # pylint: disable=g-import-not-at-top
from an_flax.runtime import mesh as mesh_lib
from an_flax.training import state as state_lib
from an_flax.training import steps

_CONFIGS = flags.DEFINE_list(
    "configs", ["default", "imagenet128_sngan", "imagenet128_sagan", "imagenet128_an",
                "imagenet128_an_tpu"], "Config modules under configs/.")
_BATCH = flags.DEFINE_integer("batch_size", 8, "Global batch per D step.")
_REPEATS = flags.DEFINE_integer("repeats", 5, "Timed steps after the compile; the median counts.")
_NOTE = flags.DEFINE_string("note", "", "A line about the machine, written under the table.")


def time_config(name: str, batch_size: int, repeats: int) -> dict:
  config = importlib.import_module(f"configs.{name}").get_config()
  config.batch_size = batch_size
  mesh = mesh_lib.create_mesh(jax.local_devices())
  generator, discriminator = build_models(config.model)
  g_tx, d_tx = state_lib.make_optimizers(config)
  state = jax.jit(lambda key: state_lib.create_train_state(
      config, generator, discriminator, g_tx, d_tx, key),
                  out_shardings=mesh_lib.replicated(mesh))(jax.random.PRNGKey(0))
  size, d_steps = config.model.resolution, config.optim.d_steps
  rng = np.random.default_rng(0)
  batch = mesh_lib.global_batch({
      "image": rng.integers(0, 256, (d_steps, batch_size, size, size, 3), np.uint8),
      "label": rng.integers(0, config.model.num_classes, (d_steps, batch_size), np.int32),
  }, mesh, batch_dim=1)
  train_step = steps.make_train_step(config, generator, discriminator, g_tx, d_tx, mesh)
  start = time.perf_counter()
  compiled = train_step.lower(state, batch).compile()
  compile_s = time.perf_counter() - start
  times = []
  for _ in range(repeats):
    start = time.perf_counter()
    state, metrics = compiled(state, batch)
    jax.block_until_ready((state, metrics))
    times.append(time.perf_counter() - start)
  step_s = statistics.median(times)
  count = lambda tree: sum(x.size for x in jax.tree.leaves(tree))
  return {"config": name, "resolution": size, "dtype": config.model.dtype,
          "g_params": count(state.g_params), "d_params": count(state.d_params),
          "d_steps": d_steps, "compile_s": compile_s, "step_ms": 1000 * step_s,
          "images_per_s": d_steps * batch_size / step_s}


def markdown(rows: list[dict], device: str, batch_size: int, note: str) -> str:
  lines = [f"Training step time on {device} ({jax.local_device_count()} device(s)), batch "
           f"{batch_size} per D step, median of the steps after compilation.", "",
           "| config | res | dtype | G params | D params | D steps | compile (s) | step (ms) "
           "| real images/s |", "|---|---|---|---|---|---|---|---|---|"]
  for r in rows:
    lines.append(f"| {r['config']} | {r['resolution']} | {r['dtype']} | {r['g_params']:,} | "
                 f"{r['d_params']:,} | {r['d_steps']} | {r['compile_s']:.1f} | "
                 f"{r['step_ms']:.0f} | {r['images_per_s']:.1f} |")
  return "\n".join(lines + ([f"\n{note}"] if note else [])) + "\n"


def main(argv: list[str]) -> None:
  del argv
  device = jax.devices()[0].device_kind
  rows = []
  for name in _CONFIGS.value:
    rows.append(time_config(name, _BATCH.value, _REPEATS.value))
    print(f"{name}: {rows[-1]['step_ms']:.0f} ms per step", flush=True)
  table = markdown(rows, device, _BATCH.value, _NOTE.value)
  print(table)
  slug = re.sub(r"[^a-z0-9]+", "_", device.lower()).strip("_")
  path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results",
                      f"train_step_time_{slug}.md")
  with open(path, "w") as f:
    f.write(table)
  print(f"Wrote {path}")


if __name__ == "__main__":
  app.run(main)
