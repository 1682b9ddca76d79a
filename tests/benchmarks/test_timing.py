"""The benchmarks' timing helpers: turns, stopping rules, and the allocator setting."""

import os
import subprocess
import sys
import textwrap

import pytest

from benchmarks import timing


def test_interleaved_medians_take_turns_and_stop_by_count_or_budget(monkeypatch):
  order = []
  slow_seconds = iter([0.0, 5.0, 5.0, 5.0, 5.0])  # warm-up, then timed runs
  clock = {"now": 0.0}

  def call(name, seconds):
    def fn():
      order.append(name)
      clock["now"] += seconds() if callable(seconds) else seconds
      return 0
    return fn

  calls = {"slow": (call("slow", lambda: next(slow_seconds)), ()),
           "fast": (call("fast", 0.001), ())}
  monkeypatch.setattr(timing.time, "perf_counter", lambda: clock["now"])
  medians = timing.interleaved_medians(calls, min_runs=3, max_runs=7, budget_s=2.0)
  # Warm-up of each, then turns; "slow" leaves after min_runs (over budget), "fast" at max_runs.
  assert order[:8] == ["slow", "fast"] * 4
  assert order.count("slow") == 1 + 3 and order.count("fast") == 1 + 7
  assert medians["slow"] == pytest.approx(5.0) and medians["fast"] == pytest.approx(0.001)


_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
_FAULTS_PER_CALL = textwrap.dedent("""
    import resource, sys
    from benchmarks import timing
    if sys.argv[1] == "huge":
      timing.rerun_with_huge_page_malloc()  # re-executes this script with the tunable
    import jax, jax.numpy as jnp
    # Temporaries of ~100 MiB: far above glibc's mmap threshold.
    fn = jax.jit(lambda x: jnp.sum(jnp.sin(jnp.cumsum(x * x, axis=0)) * jnp.exp(x), axis=0))
    x = jnp.ones((3200, 4096), jnp.float32)
    fn(x).block_until_ready()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(5):
      fn(x).block_until_ready()
    temp = fn.lower(x).compile().memory_analysis().temp_size_in_bytes
    print(timing.huge_page_malloc_active(),
          (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 5 * 4096 / temp)
""")


@pytest.mark.skipif(timing.transparent_huge_pages() in ("never", "unknown"),
                    reason="this kernel has transparent huge pages off")
def test_huge_page_malloc_stops_page_faulting_temporaries_in_4k_pages():
  """Page faults per call, as a fraction of the temporaries' 4 KiB pages, without and with."""
  fractions = {}
  for mode in ("system", "huge"):
    env = {k: v for k, v in os.environ.items() if k != "GLIBC_TUNABLES"}
    out = subprocess.run([sys.executable, "-c", _FAULTS_PER_CALL, mode], check=True,
                         capture_output=True, text=True, cwd=_ROOT, env=env)
    active, fraction = out.stdout.split()[-2:]
    assert active == str(mode == "huge"), out.stdout
    fractions[mode] = float(fraction)
  assert fractions["system"] > 0.5 and fractions["huge"] < 0.1, fractions
