"""benchmarks/resize_modes.py runs at toy size and prints every row (no timing is asserted)."""

import re

from benchmarks import resize_modes


def test_resize_modes_table_has_every_mode_and_the_host_rows():
  table = resize_modes.run(batch_size=2, image_size=128, inception_size=75, budget_s=0.0)
  assert "uint8 128x128 images, batch 2, to 75x75 network input" in table, table
  number = r"[0-9]+\.[0-9]"
  for mode, name in resize_modes.OURS.items():
    assert re.search(rf"^\| {mode} \| {re.escape(name)} \| {number} \| {number} \|$", table,
                     re.M), table
  for mode, name in resize_modes.HOST.items():
    assert re.search(rf"^\| {mode} \| {re.escape(name)} \| {number} \| n/a \|$", table,
                     re.M), table
