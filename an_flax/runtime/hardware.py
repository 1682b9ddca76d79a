"""Peak arithmetic rates of accelerators, for the model FLOPs utilisation (MFU) of a step.

MFU = (XLA's cost analysis of the lowered step over the devices: FLOPs per device) /
(step time x the device's peak). Peaks are the vendors' dense (no sparsity) figures per
chip for the dtype the matrix units run: bfloat16 compute, and float32 compute as XLA
runs it by default (TF32 on NVIDIA A100/H100/H200, one bfloat16 pass on TPU). Unknown
devices (CPUs among them) have no peak, and no MFU is reported for them.
"""

from typing import Optional

import jax

# (substring of `device.device_kind`, lower case) -> {compute dtype: peak FLOP/s}.
# TPU: Google Cloud TPU documentation (v4 275, v5e 197, v5p 459, v6e 918 TFLOP/s bf16).
# NVIDIA: A100 SXM 312 bf16 / 156 TF32; H100 and H200 SXM 989 bf16 / 494 TF32.
_TERA = 1e12
PEAK_FLOPS = (
    ("tpu v4", {"bfloat16": 275 * _TERA, "float32": 275 * _TERA}),
    ("tpu v5 lite", {"bfloat16": 197 * _TERA, "float32": 197 * _TERA}),
    ("tpu v5e", {"bfloat16": 197 * _TERA, "float32": 197 * _TERA}),
    ("tpu v5p", {"bfloat16": 459 * _TERA, "float32": 459 * _TERA}),
    ("tpu v5", {"bfloat16": 459 * _TERA, "float32": 459 * _TERA}),
    ("tpu v6 lite", {"bfloat16": 918 * _TERA, "float32": 918 * _TERA}),
    ("tpu v6e", {"bfloat16": 918 * _TERA, "float32": 918 * _TERA}),
    ("a100", {"bfloat16": 312 * _TERA, "float32": 156 * _TERA}),
    ("h100", {"bfloat16": 989 * _TERA, "float32": 494 * _TERA}),
    ("h200", {"bfloat16": 989 * _TERA, "float32": 494 * _TERA}),
)


def peak_flops_per_second(device_kind: str, dtype: str) -> Optional[float]:
  """The peak of one device of this kind computing in `dtype`; None when unknown."""
  kind = device_kind.lower()
  for name, peaks in PEAK_FLOPS:  # more specific names come first
    if name in kind:
      return peaks.get(dtype)
  return None


def step_flops(lowered: jax.stages.Lowered, num_devices: int) -> Optional[float]:
  """FLOPs of one call of a program per device: XLA's cost analysis of the whole lowered
  program, over the devices it is partitioned on.

  Read before compiling: on a GPU the compiled program's convolutions are cuDNN calls the
  analysis does not count (it gave SA-GAN 0.1% MFU on an H200). A loop's body (`lax.scan`)
  counts once.
  """
  flops = (lowered.cost_analysis() or {}).get("flops")
  return float(flops) / num_devices if flops and flops > 0 else None


def model_flops_utilization(flops_per_step: Optional[float], seconds_per_step: float,
                            device_kind: str, dtype: str) -> Optional[float]:
  """Fraction of the device's peak the step reaches; None when either is unknown."""
  peak = peak_flops_per_second(device_kind, dtype)
  if not peak or not flops_per_step or seconds_per_step <= 0:
    return None
  return flops_per_step / seconds_per_step / peak
