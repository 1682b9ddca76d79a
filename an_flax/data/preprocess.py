"""Encoded image -> centre square -> `size`x`size` uint8, as BigGAN-style ImageNet GANs do.

The crop is the largest centred square at torchvision's offsets (BigGAN-PyTorch's
`CenterCropLongEdge`) and the resize is bilinear with antialiasing, close to but not
exactly PIL's bilinear downscale in torchvision's `Resize` (docs/data.md measures how
close; `pil_preprocess` and `an_flax.data.prepare` give PIL's pixels exactly). JPEGs are
decoded with libjpeg's accurate integer DCT: the pixels PIL decodes (so pytorch-fid,
clean-fid and the PyTorch GAN loaders), where TensorFlow's default DCT is up to 14
levels off. The result is rounded back to uint8: images cross to
the device as bytes and are scaled to [-1, 1] there.
"""

from __future__ import annotations

import tensorflow as tf

JPEG_DCT = 'INTEGER_ACCURATE'  # libjpeg's JDCT_ISLOW, PIL's


def decode_center_square(encoded: tf.Tensor) -> tf.Tensor:
  """Decodes the centred square of a JPEG, PNG or GIF into uint8 RGB.

  Grayscale and RGBA inputs become RGB (`channels=3`). `decode_jpeg` reads all three
  formats, so no `tf.cond` on the format is needed. The whole image is decoded and then
  cropped: libjpeg entropy-decodes what a crop window skips above and beside it all the
  same, so `decode_and_crop_jpeg` is no faster (benchmarks/results/jpeg_decode_cost_cpu.md).
  """
  image = tf.io.decode_jpeg(encoded, channels=3, dct_method=JPEG_DCT)
  height, width = tf.shape(image)[0], tf.shape(image)[1]
  side = tf.minimum(height, width)
  top, left = _torchvision_offset(height - side), _torchvision_offset(width - side)
  return image[top:top + side, left:left + side]


def _torchvision_offset(excess: tf.Tensor) -> tf.Tensor:
  """torchvision's `int(round(excess / 2.0))`: Python rounds a half to the even integer, so
  an odd excess 2k + 1 starts at k when k is even and at k + 1 when k is odd."""
  half = excess // 2
  return half + (excess % 2) * (half % 2)


def resize_uint8(image: tf.Tensor, size: int) -> tf.Tensor:
  """Resizes a square uint8 image to `size`x`size`; the identity when it already is."""
  resized = tf.image.resize(image, (size, size), method='bilinear', antialias=True)
  return tf.cast(tf.clip_by_value(tf.round(resized), 0.0, 255.0), tf.uint8)


def decode_example(example: dict[str, tf.Tensor], size: int) -> dict[str, tf.Tensor]:
  """{'image': encoded bytes, 'label'} -> {'image': uint8 (size, size, 3), 'label': int32}."""
  return {
      'image': resize_uint8(decode_center_square(example['image']), size),
      'label': tf.cast(example['label'], tf.int32),
  }
