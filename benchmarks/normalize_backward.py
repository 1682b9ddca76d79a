"""Why `regional_normalize` has a hand-written VJP: its cost against autodiff.

Times the forward, and forward+backward with the hand-written VJP and with JAX's
reverse-mode autodiff of the same forward computation, for batch 1, C = 32, n = 16
on square maps (medians after compilation, the three taking turns, with large host
blocks on huge pages: see `timing.rerun_with_huge_page_malloc`).

  python -m benchmarks.normalize_backward [--sizes 128 256 512 1024]

Prints a markdown table and writes it to benchmarks/results/normalize_backward_<platform>.md.
"""

import os
from typing import Callable

import jax
import jax.numpy as jnp

from an_flax import functional
from benchmarks import report, timing
from benchmarks.attention_cost import NUM_ENTITIES


def _autodiff_normalize(values: jax.Array, layout: jax.Array) -> jax.Array:
  """The forward of `regional_normalize`, differentiated by JAX instead of the custom rule."""
  n, h, w, c = values.shape
  identity = (jnp.ones((NUM_ENTITIES, c)), jnp.zeros((NUM_ENTITIES, c)))
  out, _ = functional._weighted_normalize_fwd(  # pylint: disable=protected-access
      values.reshape(n, h * w, c), layout.reshape(n, h * w, NUM_ENTITIES), *identity, 1e-5)
  return out.reshape(values.shape)


def _gradient(normalize: Callable, cotangent: jax.Array) -> Callable:
  return jax.grad(lambda v, s: jnp.vdot(normalize(v, s), cotangent), argnums=(0, 1))


def run(sizes: list[int], channels: int) -> str:
  device = jax.devices()[0]
  rows = []
  for size in sizes:
    keys = jax.random.split(jax.random.PRNGKey(size), 3)
    values = jax.random.normal(keys[0], (1, size, size, channels))
    layout = jax.nn.softmax(jax.random.normal(keys[1], (1, size, size, NUM_ENTITIES)), -1)
    cotangent = jax.random.normal(keys[2], values.shape)
    calls = {"forward": functional.regional_normalize,
             "custom": _gradient(functional.regional_normalize, cotangent),
             "autodiff": _gradient(_autodiff_normalize, cotangent)}
    seconds = timing.interleaved_medians({
        name: (jax.jit(fn).lower(values, layout).compile(), (values, layout))
        for name, fn in calls.items()})
    forward, custom, autodiff = (1e3 * seconds[name] for name in calls)
    rows.append(f"| {size}x{size} | {forward:.2f} ms | {custom:.2f} ms | {autodiff:.2f} ms | "
                f"{autodiff / custom:.2f}x |")
    print(rows[-1], flush=True)
  return "\n".join([
      f"Device: {device.platform}: {device.device_kind}, jax {jax.__version__}. "
      f"Batch 1, C = {channels}, n = {NUM_ENTITIES}. Host allocator: {timing.allocator_description()}.",
      "",
      "| feature map | forward | fwd+bwd, hand-written VJP | fwd+bwd, autodiff | autodiff / VJP |",
      "|---|---|---|---|---|",
      *rows])


def main() -> None:
  args = report.feature_map_parser(__doc__.split("\n\n")[0]).parse_args()
  timing.rerun_with_huge_page_malloc()
  table = run(args.sizes, args.channels)
  output = os.path.join(report.RESULTS_DIR, f"normalize_backward_{jax.devices()[0].platform}.md")
  command = (f"python -m benchmarks.normalize_backward --sizes {' '.join(map(str, args.sizes))} "
             f"--channels {args.channels}")
  report.write(output, "regional_normalize: hand-written VJP against autodiff", command, table)


if __name__ == "__main__":
  main()
