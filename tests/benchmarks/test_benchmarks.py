"""The benchmarks still run and print their tables (tiny maps; no timing is asserted)."""

import re

from benchmarks import attention_cost, normalize_backward, timing


def test_attention_cost_table_has_every_row_and_linear_flops():
  table = attention_cost.run([16, 32], channels=8)
  for name in ("AN (ours)", "AN, released code's way", "SA-GAN self-attention",
               attention_cost.FLOOR):
    assert len(re.findall(rf"^\| {re.escape(name)} \| (16x16|32x32) \| [0-9.]+ ms \| [0-9.]+ ms",
                          table, re.M)) == 2, name
  ratios = re.search(r"^\| 32x32 \|((?: [0-9.]+x \|){8})$", table, re.M)
  assert ratios, table
  flops_forward, flops_both = map(float, re.findall(r"([0-9.]+)x", ratios.group(1))[-2:])
  # AN adds a value product, the layout and the region products to the floor's one conv.
  assert 2.0 < flops_forward < flops_both
  growth = re.search(r"XLA flops ([0-9.]+)x", table)
  assert growth and 3.5 < float(growth.group(1)) < 4.5  # 4x the positions, ~4x the work


def test_an_and_the_floor_take_turns_apart_from_the_other_rows(monkeypatch):
  """AN/floor is timed in rounds of its own, before any call of the other rows."""
  phases = []
  measure = timing.interleaved_medians
  monkeypatch.setattr(timing, "interleaved_medians",
                      lambda calls: phases.append(sorted(calls)) or measure(calls, max_runs=3))
  attention_cost.run([16, 32], channels=8)
  names = [{name for name, _, _ in phase} for phase in phases]
  light = set(attention_cost.LIGHT_ROWS)
  assert names[:2] == [light, light], names
  assert all(not phase & light for phase in names[2:]), names
  assert [{size for _, size, _ in phase} for phase in phases[:2]] == [{16}, {32}]
  assert sorted(key for phase in phases for key in phase) == sorted(
      (name, size, column) for name in (*light, "AN, released code's way", "SA-GAN self-attention")
      for size in (16, 32) for column in (0, 1))


def test_normalize_backward_table():
  table = normalize_backward.run([16], channels=8)
  assert re.search(r"^\| 16x16 \| [0-9.]+ ms \| [0-9.]+ ms \| [0-9.]+ ms \| [0-9.]+x \|$",
                   table, re.M)
