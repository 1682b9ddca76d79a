"""Random horizontal flips of the training images, fixed by (seed, batch index, row).

StudioGAN flips every training image left-right with probability 1/2 (`PRE.apply_rflip`:
torchvision's `RandomHorizontalFlip` in its loader). Here the coin of an image is a
function of the config's seed, the index of its global batch and its row there, so a run
resumed at batch k flips exactly the images the uninterrupted run flipped. The coins are
drawn with numpy on the host, one draw per global batch, for both readers (TFDS on the fly
and the prepared records, which differ only in which rows a process holds): tf.image's
stateless flips would serve only the TFDS path.
"""

from collections.abc import Iterator

import numpy as np

Batch = dict[str, np.ndarray]
_STREAM = 0x666C6970  # 'flip': keeps these draws apart from any other use of the seed


def flip_coins(seed: int, batch_index: int, global_batch_size: int) -> np.ndarray:
  """Whether each row of global batch `batch_index` is flipped (bool, global_batch_size)."""
  entropy = [_STREAM, seed % 2**64, batch_index]
  return np.random.default_rng(entropy).random(global_batch_size) < 0.5


def random_flips(batches: Iterator[Batch], *, seed: int, start_batch: int, rows: np.ndarray,
                 global_batch_size: int) -> Iterator[Batch]:
  """`batches` (global batches `start_batch`, `start_batch` + 1, ... of which this process
  holds `rows`) with each image flipped left-right where its coin says so."""
  for index, batch in enumerate(batches, start_batch):
    flip = flip_coins(seed, index, global_batch_size)[rows]
    images = batch['image']
    yield {**batch, 'image': np.where(flip[:, None, None, None], images[:, :, ::-1], images)}
