"""benchmarks/dinov2_cost.py runs at toy size and prints its table (no timing is asserted)."""

import re

from benchmarks import dinov2_cost


def test_table_times_both_sides_and_their_features_agree():
  table = dinov2_cost.run(batch_size=2, image_size=32, config=dinov2_cost.SMALL, input_size=56,
                          budget_s=0.0)
  assert "batch 2, resized to 56x56" in table, table
  for name, ratio in ((dinov2_cost.OURS, r"[0-9.]+x"), (dinov2_cost.DGM_EVAL, "1.00x")):
    assert re.search(rf"^\| {re.escape(name)} \| [0-9]+ \| [0-9.]+ \| [0-9.]+ \| {ratio} \|$",
                     table, re.M), table
  difference, std = re.search(r"over the 64 features: ([0-9.e+-]+) \(feature std ([0-9.]+)\)",
                              table).groups()
  assert float(difference) < 1e-4 and float(std) > 0.3, table
