"""Timing helpers shared by the benchmarks: the host allocator and interleaved medians."""

import os
import statistics
import sys
import time
from typing import Any, Callable, Dict, Hashable, List, Mapping, Sequence, Tuple

import jax

HUGE_PAGE_TUNABLE = "glibc.malloc.hugetlb=1"


def huge_page_malloc_active() -> bool:
  return HUGE_PAGE_TUNABLE in os.environ.get("GLIBC_TUNABLES", "").split(":")


def rerun_with_huge_page_malloc() -> None:
  """Re-executes this command with glibc backing large blocks by transparent huge pages.

  XLA:CPU allocates an executable's temporaries at every call, and glibc serves
  each large block from a fresh mmap, so every call page-faults its temporaries
  in again 4 KiB at a time: a cost of the kernel rather than of the computation,
  the largest for the programs with the most temporaries (compare
  benchmarks/results/attention_cost_cpu*.md). glibc's `hugetlb` tunable
  (glibc >= 2.35; it is read at start-up, hence the re-execution) maps them in
  2 MiB pages instead. Returns at once if it is already set; elsewhere than
  Linux, or on a glibc without the tunable, the rerun changes nothing.
  """
  if huge_page_malloc_active() or not sys.platform.startswith("linux"):
    return
  tunables = [t for t in os.environ.get("GLIBC_TUNABLES", "").split(":") if t]
  env = dict(os.environ, GLIBC_TUNABLES=":".join(tunables + [HUGE_PAGE_TUNABLE]))
  print(f"Re-running with GLIBC_TUNABLES={env['GLIBC_TUNABLES']} "
        "(--system-allocator to measure without)", flush=True)
  os.execve(sys.executable, [sys.executable, *sys.orig_argv[1:]], env)


def transparent_huge_pages() -> str:
  """The kernel's transparent huge page mode: "always", "madvise", "never" or "unknown"."""
  try:
    with open("/sys/kernel/mm/transparent_hugepage/enabled") as f:
      modes = f.read()
  except OSError:
    return "unknown"
  return modes[modes.index("[") + 1:modes.index("]")] if "[" in modes else "unknown"


def allocator_description() -> str:
  if huge_page_malloc_active():
    return (f"GLIBC_TUNABLES={HUGE_PAGE_TUNABLE} (large blocks on huge pages; the kernel's "
            f"transparent huge pages: {transparent_huge_pages()})")
  return "the C library's default"


def interleaved_medians(
    calls: Mapping[Hashable, Tuple[Callable, Sequence[Any]]],
    min_runs: int = 3, max_runs: int = 50, budget_s: float = 2.0,
) -> Dict[Hashable, float]:
  """Median seconds of each compiled call, the calls taking turns.

  One call after another in rounds, so that the machine's drift (other jobs,
  clock changes) falls on all of them alike and their ratios stay steady. A call
  leaves the rounds after `max_runs` runs, or `min_runs` runs that took
  `budget_s` in all. Each call runs once first to warm up, untimed.
  """
  for fn, args in calls.values():
    jax.block_until_ready(fn(*args))
  times: Dict[Hashable, List[float]] = {key: [] for key in calls}
  active = list(calls)
  while active:
    for key in list(active):
      fn, args = calls[key]
      start = time.perf_counter()
      jax.block_until_ready(fn(*args))
      times[key].append(time.perf_counter() - start)
      runs = times[key]
      if len(runs) >= max_runs or (len(runs) >= min_runs and sum(runs) >= budget_s):
        active.remove(key)
  return {key: statistics.median(runs) for key, runs in times.items()}

