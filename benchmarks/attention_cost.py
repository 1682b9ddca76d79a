"""Cost of AN against SA-GAN self-attention, the released code's AN, and a floor.

Reproduces the authors' timing table (batch 1, C = 32, square feature maps of
128^2 to 1024^2) on the machine at hand. Rows: AN (this project, efficient),
AN computed the released code's way (materialising (N, H, W, C, n)), SA-GAN
self-attention, and instance norm + 1x1 conv as the floor. Every row runs in
training mode (AN's self-sampling on). Times are medians of repeated runs
after compilation. At each size AN and the floor take turns (so AN/floor comes
from one measurement), before the other two rows, which take turns among
themselves: their hundreds of MiB of temporaries per call would slow whichever
call came next. Their calls that need gigabytes are timed last. Large host
blocks are on huge pages unless --system-allocator (see
`timing.rerun_with_huge_page_malloc`); memory is the compiled executable's
memory analysis, and a configuration that would not fit in the device's memory
is reported as "OOM (needs X GiB)" without being run.

  python -m benchmarks.attention_cost [--sizes 128 256 512 1024] [--channels 32]
      [--system-allocator]

Prints a markdown table and the ratios (with XLA's operation count of AN against
the floor's, the work the floor target allows for), and writes both to
benchmarks/results/.
"""

import os
from typing import Callable, Dict, List, Tuple

import flax.linen as nn
import jax
import jax.numpy as jnp

from an_flax import functional
from an_flax.layers import AttentiveNorm, SelfAttention
from benchmarks import report, timing

GIB = 1024 ** 3
LARGE_BYTES = GIB  # calls of the other rows needing more are timed after all the rest
NUM_ENTITIES = 16
FLOOR = "instance norm + 1x1 conv (floor)"
LIGHT_ROWS = ("AN (ours)", FLOOR)  # timed apart from the rows with large temporaries


def released_attentive_norm(params: Dict, x: jax.Array, rng: jax.Array) -> jax.Array:
  """The released TF code's arithmetic, with its (N, H, W, C, n) tensors."""
  layout = functional.semantic_layout(x, params, rng=rng, key_pool=1, sampling="batch_shared")
  values = functional.conv1x1(x, params["value"])
  layout_expand = layout[..., None, :]
  count = jnp.sum(layout_expand, axis=(1, 2), keepdims=True) + 1e-7
  hot_area = values[..., None] * layout_expand
  mean = jnp.mean(hot_area, axis=(1, 2), keepdims=True) / count
  std = jnp.sqrt(jnp.sum((hot_area - mean) ** 2, axis=(1, 2), keepdims=True) / count)
  normalized = jnp.sum((values[..., None] - mean) / (std + 1e-7) * layout_expand, axis=-1)
  return x + params["rho"] * normalized


class InstanceNormConv(nn.Module):
  """The floor: instance normalisation and a 1x1 convolution, added back."""

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    normalized = nn.GroupNorm(num_groups=None, group_size=1, use_bias=False, use_scale=False)(x)
    return x + nn.Conv(x.shape[-1], (1, 1))(normalized)


def _largest_tensor_bytes(name: str, size: int, channels: int) -> int:
  """Bytes of the largest float32 tensor a module must hold at a size.

  XLA's CPU memory analysis leaves out the scratch of library calls (the
  attention logits of SA-GAN's batched matmul), so the OOM prediction takes
  the larger of the analysis and this count.
  """
  positions = size * size
  if name.startswith("SA-GAN"):
    return 4 * 2 * positions * (positions // 4)  # logits and softmax weights
  if name.startswith("AN, released"):
    return 4 * positions * channels * NUM_ENTITIES
  return 0


def _modules(channels: int) -> Dict[str, Tuple[Callable, Callable]]:
  """name -> (init(rng, x) -> params, apply(params, x, rng) -> y)."""
  an = AttentiveNorm(num_entities=NUM_ENTITIES)
  sa = SelfAttention(spectral=False)
  floor = InstanceNormConv()
  an_params = lambda rng, x: {"params": {**an.init(rng, x)["params"], "rho": jnp.float32(0.5)}}
  return {
      "AN (ours)": (an_params, lambda p, x, r: an.apply(p, x, train=True, rngs={"sampling": r})),
      "AN, released code's way": (an_params, lambda p, x, r: released_attentive_norm(p["params"], x, r)),
      "SA-GAN self-attention": (sa.init, lambda p, x, r: sa.apply(p, x)),
      FLOOR: (floor.init, lambda p, x, r: floor.apply(p, x)),
  }


def _forward_backward(apply: Callable) -> Callable:
  def loss(params, x, rng, cotangent):
    return jnp.vdot(apply(params, x, rng), cotangent)
  return jax.grad(loss, argnums=(0, 1))


def _device_memory_bytes() -> int:
  device = jax.devices()[0]
  stats = device.memory_stats() if hasattr(device, "memory_stats") else None
  if stats and "bytes_limit" in stats:
    return int(stats["bytes_limit"])
  return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def _needed_bytes(compiled) -> Tuple[int, int]:
  """(total bytes the executable needs, of which temporaries)."""
  analysis = compiled.memory_analysis()
  temp = analysis.temp_size_in_bytes
  total = temp + analysis.argument_size_in_bytes + analysis.output_size_in_bytes
  return total - analysis.alias_size_in_bytes, temp


def _flops(compiled) -> float:
  """XLA's operation count of the executable: the machine-independent cost."""
  analysis = compiled.cost_analysis()
  analysis = analysis[0] if isinstance(analysis, (list, tuple)) else analysis
  return float(analysis.get("flops", float("nan")))


def _compile_and_size(fn: Callable, args, floor_bytes: int) -> Dict:
  """The compiled call, the bytes it needs (at least `floor_bytes`), its temporaries and flops.

  A compilation that runs out of device memory (a GPU's autotuner runs candidate kernels on
  the real buffer sizes) gives no call, reported as OOM needing `floor_bytes`.
  """
  try:
    compiled = jax.jit(fn).lower(*args).compile()
  except jax.errors.JaxRuntimeError as error:
    if "RESOURCE_EXHAUSTED" not in str(error):
      raise
    return {"call": None, "needed": floor_bytes, "temp": 0, "flops": float("nan"), "ms": None}
  needed, temp = _needed_bytes(compiled)
  return {"call": (compiled, args), "needed": max(needed, floor_bytes), "temp": temp,
          "flops": _flops(compiled), "ms": None}


def _record(results: Dict, seconds: Dict) -> None:
  for (name, size, column), value in seconds.items():
    results[name, size][column]["ms"] = 1e3 * value


def _cell(result: Dict) -> str:
  if result["ms"] is None:
    return f"OOM (needs {result['needed'] / GIB:.1f} GiB)"
  return f"{result['ms']:.2f} ms"


def run(sizes: List[int], channels: int, allocator: str = "the C library's default") -> str:
  capacity = _device_memory_bytes()
  device = jax.devices()[0]
  device_name = f"{device.platform}: {device.device_kind}"
  results = {}
  modules = _modules(channels)
  # Phases, each a set of calls taking turns: per size, AN and the floor; then per
  # size, the other rows' calls; then those of them that need gigabytes. A call that
  # returns hundreds of MiB to the kernel slows whatever runs after it for a while,
  # so AN and the floor never follow another row's call.
  light = {size: {} for size in sizes}
  others = {size: {} for size in sizes}
  large = {}
  for size in sizes:
    for name, (init, apply) in modules.items():
      rng = jax.random.PRNGKey(size)
      x = jax.random.normal(rng, (1, size, size, channels))
      params = init(rng, x[:, :8, :8])  # no parameter depends on the map's size
      floor_bytes = _largest_tensor_bytes(name, size, channels)
      results[name, size] = (_compile_and_size(apply, (params, x, rng), floor_bytes),
                             _compile_and_size(_forward_backward(apply), (params, x, rng, x),
                                              2 * floor_bytes))
      for column, result in enumerate(results[name, size]):
        if result["call"] is None or result["needed"] > 0.9 * capacity:
          continue  # reported as OOM
        if name in LIGHT_ROWS:
          light[size][name, size, column] = result["call"]
        elif result["needed"] <= LARGE_BYTES:
          others[size][name, size, column] = result["call"]
        else:
          large[name, size, column] = result["call"]
  for phase in [*light.values(), *others.values(), large]:
    _record(results, timing.interleaved_medians(phase))
  rows = [f"| {name} | {size}x{size} | {_cell(results[name, size][0])} | "
          f"{_cell(results[name, size][1])} | {results[name, size][0]['temp'] / 2**20:.1f} | "
          f"{results[name, size][1]['needed'] / 2**20:.1f} |"
          for name in modules for size in sizes]

  def ratio(numerator: str, denominator: str, size: int, column: int) -> str:
    top, bottom = results[numerator, size][column]["ms"], results[denominator, size][column]["ms"]
    return "n/a (OOM)" if top is None or bottom is None else f"{top / bottom:.1f}x"

  def growth(key: str, name: str = "AN (ours)") -> str:
    values = [results[name, size][1][key] for size in sizes]
    return ", ".join("n/a" if a is None or b is None else f"{b / a:.1f}x"
                     for a, b in zip(values, values[1:]))

  def work_ratio(size: int, column: int) -> str:
    an, floor = results["AN (ours)", size][column], results[FLOOR, size][column]
    return f"{an['flops'] / floor['flops']:.1f}x"

  ratio_rows = []
  for size in sizes:
    ratio_rows.append(
        f"| {size}x{size} | " + " | ".join(
            ratio(a, b, size, col) for a, b in (("SA-GAN self-attention", "AN (ours)"),
                                                ("AN, released code's way", "AN (ours)"),
                                                ("AN (ours)", FLOOR))
            for col in (0, 1)) + f" | {work_ratio(size, 0)} | {work_ratio(size, 1)} |")
  input_mib = 4 * channels / 2**20
  lines = [
      f"Device: {device_name} ({jax.device_count()} device(s), {capacity / GIB:.0f} GiB), "
      f"jax {jax.__version__}. Batch 1, C = {channels}, n = {NUM_ENTITIES}, training mode. "
      f"Host allocator: {allocator}.",
      "",
      "| module | feature map | forward | forward+backward | forward temp MiB (XLA) | fwd+bwd total MiB (XLA) |",
      "|---|---|---|---|---|---|",
      *rows,
      "",
      "| feature map | SA/AN fwd | SA/AN fwd+bwd | naive/AN fwd | naive/AN fwd+bwd | "
      "AN/floor fwd | AN/floor fwd+bwd | AN/floor XLA flops fwd | AN/floor XLA flops fwd+bwd |",
      "|---|---|---|---|---|---|---|---|---|",
      *ratio_rows,
      "",
      *([f"AN fwd+bwd growth per 4x more positions ({' -> '.join(map(str, sizes))}): "
         f"XLA flops {growth('flops')}, time {growth('ms')} "
         f"(floor: time {growth('ms', FLOOR)}).", ""]
        if len(sizes) > 1 else []),
      "Input size per map: " + ", ".join(f"{s}^2: {s * s * input_mib:.1f} MiB" for s in sizes) + ".",
      "Authors (PyTorch 1.1, RTX 2080-class GPU, forward): AN 0.73 / 2.24 / 9.46 / 37.68 ms; "
      "SA 5.21 / 79.42 ms / OOM / OOM.",
  ]
  return "\n".join(lines)


def main() -> None:
  parser = report.feature_map_parser(__doc__.split("\n\n")[0])
  parser.add_argument("--system-allocator", action="store_true",
                      help="leave malloc as it is (see timing.rerun_with_huge_page_malloc)")
  parser.add_argument("--output", default=None, help="markdown file (default: benchmarks/results/)")
  args = parser.parse_args()
  if not args.system_allocator:
    timing.rerun_with_huge_page_malloc()
  table = run(args.sizes, args.channels, timing.allocator_description())
  suffix = "_system_allocator" if args.system_allocator else ""
  output = args.output or os.path.join(
      report.RESULTS_DIR, f"attention_cost_{jax.devices()[0].platform}{suffix}.md")
  command = (f"python -m benchmarks.attention_cost --sizes {' '.join(map(str, args.sizes))} "
             f"--channels {args.channels}{' --system-allocator' if args.system_allocator else ''}")
  report.write(output, "Attention cost", command, table)


if __name__ == "__main__":
  main()
