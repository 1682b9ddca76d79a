"""PyTorch-StudioGAN's `make_hdf5` (`src/utils/hdf5.py` at HEAD 947b35e, MIT licence; itself
BigGAN-PyTorch's `make_hdf5.py`): how it prepares a dataset once.

Its DataLoader (batches of 500, in order, `num_workers` processes) runs the PIL transform of
`src/data_util.py` with `normalize=False` (uint8 `PILToTensor`); each batch is transposed to
NHWC and appended to `imgs` (uint8, chunks of 500 images, no compression) and `labels`
(int64) of one HDF5 file, the file created on the first batch and reopened for each later
one. The dataset is given: the benchmark passes its transcription of that transform. One
change: chunks are at most the dataset's size, as h5py refuses larger ones (toy runs).
Imports only torch, h5py and numpy.
"""

import h5py
import numpy as np
import torch

CHUNK = 500


def make_hdf5(dataset: torch.utils.data.Dataset, path: str, image_size: int,
              num_workers: int) -> int:
  """Writes `dataset` to the HDF5 file `path` as StudioGAN does; returns the image count."""
  loader = torch.utils.data.DataLoader(dataset, batch_size=CHUNK, shuffle=False,
                                       pin_memory=False, num_workers=num_workers,
                                       drop_last=False)
  chunk = min(CHUNK, len(dataset))
  for i, (x, y) in enumerate(loader):
    x = np.transpose(x.numpy(), (0, 2, 3, 1))
    y = y.numpy()
    if i == 0:
      with h5py.File(path, "w") as f:
        images = f.create_dataset("imgs", x.shape, dtype="uint8",
                                  maxshape=(len(dataset), image_size, image_size, 3),
                                  chunks=(chunk, image_size, image_size, 3), compression=False)
        images[...] = x
        labels = f.create_dataset("labels", y.shape, dtype="int64", maxshape=(len(dataset),),
                                  chunks=(chunk,), compression=False)
        labels[...] = y
    else:
      with h5py.File(path, "a") as f:
        f["imgs"].resize(f["imgs"].shape[0] + x.shape[0], axis=0)
        f["imgs"][-x.shape[0]:] = x
        f["labels"].resize(f["labels"].shape[0] + y.shape[0], axis=0)
        f["labels"][-y.shape[0]:] = y
  with h5py.File(path, "r") as f:
    return f["imgs"].shape[0]
