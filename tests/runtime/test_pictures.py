"""The AN layout picture: the trainer's tiles, under a header that names every block and
column, above a legend."""

import numpy as np

from an_flax.runtime import pictures

SIZE, EXAMPLES = 32, 3


def _inputs(num_entities: dict[str, int]):
  rng = np.random.default_rng()
  images = rng.uniform(-1, 1, size=(EXAMPLES, SIZE, SIZE, 3))
  layouts = {name: rng.dirichlet(np.ones(n), size=(EXAMPLES, 8, 8))
             for name, n in num_entities.items()}
  return images, layouts


def _body(images, layouts) -> np.ndarray:
  """The tiles alone, laid out as before labels existed."""
  row = np.concatenate([pictures.to_uint8(images)[:, None]] + [
      pictures.layout_tiles(layouts[name], SIZE) for name in sorted(layouts)], axis=1)
  return pictures.grid(row.reshape((-1,) + row.shape[2:]), rows=EXAMPLES)


def _find_rows(picture: np.ndarray, body: np.ndarray) -> int:
  """The row where `body` sits in `picture` (which must hold it unchanged)."""
  for top in range(picture.shape[0] - body.shape[0] + 1):
    if np.array_equal(picture[top:top + body.shape[0]], body):
      return top
  raise AssertionError("the tiles are not in the picture unchanged")


def _ink(region: np.ndarray) -> int:
  return int((region.min(axis=-1) < 128).sum())


def test_tiles_sit_unchanged_between_a_header_and_a_legend():
  images, layouts = _inputs({"G/block/an": 3, "D/block/an": 2})
  picture = pictures.layout_picture(images, layouts)
  body = _body(images, layouts)
  top = _find_rows(picture, body)
  assert picture.dtype == np.uint8 and picture.shape[1] == body.shape[1]
  assert top > 0 and _ink(picture[:top]) > 0  # a header
  assert _ink(picture[top + body.shape[0]:]) > 0  # a legend


def test_every_block_and_column_is_titled():
  names = {"D/DBlock_1/AttentiveNorm_0": 2, "G/GBlock_2/AttentiveNorm_0": 3}
  images, layouts = _inputs(names)
  picture = pictures.layout_picture(images, layouts)
  header = picture[:_find_rows(picture, _body(images, layouts))]
  step = SIZE + 2  # tile plus gap
  columns = [header[:, 2 + c * step:2 + c * step + SIZE] for c in range(1 + 3 + 4)]
  # Column titles: image, then per block (sorted: D first) argmax and e0, e1, ...
  assert all(_ink(column) > 0 for column in columns)
  # The module names title their blocks: the header over block D's first column differs
  # from that over G's (its name), while their second-line titles ('argmax') agree.
  line = header.shape[0] // 2
  d_first, g_first = columns[1], columns[1 + 3]
  assert not np.array_equal(d_first[:line], g_first[:line])
  np.testing.assert_array_equal(d_first[line:], g_first[line:])


def test_a_label_stays_within_its_box():
  """A long module name over a one-entity block does not spill into the next block."""
  long_name = "G/" + "VeryLongModuleName" * 4
  images, layouts = _inputs({long_name: 1, "Z": 1})
  picture = pictures.layout_picture(images, layouts)
  header = picture[:_find_rows(picture, _body(images, layouts))]
  step = SIZE + 2
  line = header.shape[0] // 2
  reference = pictures.layout_picture(images, {"G/short": layouts[long_name],
                                               "Z": layouts["Z"]})
  # Block 'Z' starts at column 3 in both pictures: identical titles there.
  z = slice(2 + 3 * step, None)
  np.testing.assert_array_equal(header[:line, z], reference[:line, z])
