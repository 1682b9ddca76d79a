"""The XLA:CPU options this project runs with, each kept because it measured faster.

`--xla_cpu_experimental_ynn_fusion_type=-individual_convolution`: XLA:CPU hands every
convolution to YNNPACK by default. For the weight gradient of a 3x3 convolution XLA
writes a convolution whose window is the whole feature map, with batch and features
swapped, and YNNPACK runs those (and the transposes they need) far below the machine's
peak; Eigen's convolutions are faster on this project's networks. On the 32x32 SN-GAN
step of benchmarks/train_step_time.py (table 3) the step takes 27 % less time with it
(benchmarks/results/train_step_time_cpu_vs_pytorch.md against ..._xla_defaults.md). YNNPACK keeps the dots and fusions.

The options only change how XLA compiles for the CPU; GPU and TPU programs are unaffected.
`use()` must run before JAX compiles anything for the CPU: the command lines call it first,
and so do the tests and the benchmarks. With AN_FLAX_XLA_DEFAULTS=1 in the environment it
adds nothing (XLA's own defaults), to measure what the options change.
"""

import os

FLAGS = ("--xla_cpu_experimental_ynn_fusion_type=-individual_convolution",)


def use() -> None:
  """Adds `FLAGS` to XLA_FLAGS, leaving any option the user set there as it is."""
  if os.environ.get("AN_FLAX_XLA_DEFAULTS") == "1":
    return
  given = os.environ.get("XLA_FLAGS", "").split()
  names = {flag.split("=")[0] for flag in given}
  added = [flag for flag in FLAGS if flag.split("=")[0] not in names]
  os.environ["XLA_FLAGS"] = " ".join(given + added)
