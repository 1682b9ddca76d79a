"""`train.py` on labels scrambled in the data: the learning test's control.

Every batch's labels are replaced by random classes (seeded by `--config.seed`), so the
images carry no information about their label; the flags are train.py's.
"""

import os
import sys
from typing import Iterator

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

from an_flax.data import input_pipeline  # noqa: E402  (after the path is set)
from an_flax.runtime import launch  # noqa: E402
import train  # noqa: E402

_LABELLED_BATCHES = input_pipeline.create_train_iterator


def scrambled_batches(config, start_batch: int = 0) -> Iterator[dict]:
  rng = np.random.default_rng([config.seed, start_batch])
  for batch in _LABELLED_BATCHES(config, start_batch):
    labels = rng.integers(0, config.model.num_classes, batch["label"].shape)
    yield {**batch, "label": labels.astype(batch["label"].dtype)}


if __name__ == "__main__":
  input_pipeline.create_train_iterator = scrambled_batches
  launch.run(train.main)
