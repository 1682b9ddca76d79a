"""clean-fid's and StudioGAN's Inception input paths, transcribed (PIL, numpy, torch).

From uint8 HWC images to the float32 tensor each codebase hands its Inception network,
returned NHWC. Written from
  clean-fid (GaParmar/clean-fid at e88c4d62): `cleanfid/resize.py` `make_resizer("PIL",
    False, "bicubic", (299, 299))` (its "clean" mode), `cleanfid/utils.py` `ResizeDataset`
    (ToTensor of a float32 array does not rescale) and `cleanfid/inception_torchscript.py`
    `InceptionV3W.forward` (x - 128, then / 128);
  StudioGAN (POSTECH-CVLab/PyTorch-StudioGAN at 947b35e9): `src/utils/resize.py`
    `build_resizer(post_resizer, "InceptionV3_tf", 299)`, `src/utils/ops.py`
    `resize_images` and `src/metrics/preparation.py` `LoadEvalModel` (mean = std = 0.5
    for InceptionV3_tf).
One image and one channel at a time through PIL, as they run: the reference for
tests/metrics/test_resize_modes.py and the host baseline of benchmarks/resize_modes.py.
Imports only PIL, numpy and torch.
"""

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

INCEPTION_SIZE = 299
PIL_FILTERS = {"bicubic": Image.BICUBIC, "bilinear": Image.BILINEAR, "lanczos": Image.LANCZOS}
# StudioGAN's build_resizer for backbone "InceptionV3_tf": post_resizer -> (library, filter).
STUDIOGAN_RESIZERS = {"friendly": ("PIL", "bilinear"), "clean": ("PIL", "bicubic"),
                      "legacy": ("PyTorch", "bilinear")}


def pil_resize_channels(image: np.ndarray, size: int, resample: str) -> np.ndarray:
  """Each channel of an HWC image as a mode 'F' image, `Image.resize((size, size))`."""
  channels = [np.asarray(Image.fromarray(image[:, :, c].astype(np.float32), mode="F")
                         .resize((size, size), resample=PIL_FILTERS[resample]))
              for c in range(image.shape[2])]
  return np.stack(channels, axis=2).astype(np.float32)


def clean_fid_input(images: np.ndarray, size: int = INCEPTION_SIZE) -> np.ndarray:
  """clean-fid's "clean" mode: PIL bicubic per channel, clip(0, 255), (x - 128) / 128."""
  resized = np.stack([pil_resize_channels(image, size, "bicubic").clip(0, 255)
                      for image in images])
  x = torch.from_numpy(resized.astype(np.float32))
  return ((x - 128) / 128).numpy()


def studiogan_resize(image: np.ndarray, size: int, post_resizer: str) -> np.ndarray:
  """StudioGAN's resizer for InceptionV3_tf on one HWC image (float32 HWC out)."""
  library, resample = STUDIOGAN_RESIZERS[post_resizer]
  if library == "PIL":  # No clipping, unlike clean-fid's copy of this function.
    return pil_resize_channels(image, size, resample)
  x = torch.Tensor(image.transpose((2, 0, 1)))[None, ...]
  x = F.interpolate(x, size=(size, size), mode=resample, align_corners=False)
  return x[0, ...].cpu().data.numpy().transpose((1, 2, 0)).clip(0, 255)


def studiogan_input(images: np.ndarray, size: int = INCEPTION_SIZE,
                    post_resizer: str = "friendly") -> np.ndarray:
  """StudioGAN's `get_outputs` input for InceptionV3_tf: resize, then (x / 255 - 0.5) / 0.5."""
  mean = std = torch.Tensor([0.5, 0.5, 0.5]).view(1, 1, 1, 3)
  x = torch.from_numpy(np.stack([studiogan_resize(image, size, post_resizer)
                                 for image in images]))
  return ((x / 255.0 - mean) / std).numpy()
