"""FLOPs per device and MFU, against the arithmetic written out."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from an_flax.runtime import hardware


@pytest.mark.parametrize("num_devices", [1, 4])
def test_step_flops_counts_a_matmul_and_a_convolution_per_device(num_devices):
  m, k, n = np.random.default_rng().integers(3, 40, 3)
  images = jnp.zeros((2, 9, 9, 3))
  kernel = jnp.zeros((3, 3, 3, 5))
  program = lambda a, b, x, w: (a @ b, jax.lax.conv_general_dilated(
      x, w, (1, 1), "VALID", dimension_numbers=("NHWC", "HWIO", "NHWC")))
  lowered = jax.jit(program).lower(jnp.zeros((m, k)), jnp.zeros((k, n)), images, kernel)
  # Multiply-adds as 2 FLOPs: the matmul's m k n, the 7x7 outputs' 3x3x3 taps per channel.
  expected = 2 * m * k * n + 2 * (2 * 7 * 7 * 5) * (3 * 3 * 3)
  assert hardware.step_flops(lowered, num_devices) == pytest.approx(expected / num_devices,
                                                                    rel=0.02)


def test_mfu_is_flops_over_time_and_the_devices_peak():
  peak = hardware.peak_flops_per_second("NVIDIA H200", "bfloat16")
  assert peak == 989e12
  assert hardware.model_flops_utilization(989e12 * 0.25, 0.5, "NVIDIA H200",
                                          "bfloat16") == pytest.approx(0.5)
  assert hardware.model_flops_utilization(1e12, 0.5, "cpu", "float32") is None
