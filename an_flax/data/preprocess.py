"""Encoded image -> centre square -> `size`x`size` uint8, as BigGAN-style ImageNet GANs do.

The crop is the largest centred square (BigGAN-PyTorch's `CenterCropLongEdge`) and the
resize is bilinear with antialiasing (what PIL's bilinear downscale in torchvision's
`Resize` does). Only the crop window of a JPEG (with a margin) is decoded, which is most
of the decode cost saved for ImageNet, with libjpeg's accurate integer DCT: the pixels PIL
decodes (so pytorch-fid, clean-fid and the PyTorch GAN loaders) of the whole picture,
cropped, where TensorFlow's default DCT is up to 14 levels off. The result is rounded back
to uint8: images cross to the device as bytes and are scaled to [-1, 1] there.
"""

from __future__ import annotations

import tensorflow as tf

JPEG_DCT = 'INTEGER_ACCURATE'  # libjpeg's JDCT_ISLOW, PIL's
# A decoded window's edge pixels miss their chroma neighbours outside it (upsampled
# against the edge): decode this many pixels around the square and cut them off.
JPEG_WINDOW_MARGIN = 16


def _center_square_window(height: tf.Tensor, width: tf.Tensor) -> tf.Tensor:
  side = tf.minimum(height, width)
  return tf.stack([(height - side) // 2, (width - side) // 2, side, side])


def decode_center_square(encoded: tf.Tensor) -> tf.Tensor:
  """Decodes the centred square of a JPEG, PNG, GIF or BMP into uint8 RGB.

  Grayscale and RGBA inputs become RGB (`channels=3`).
  """

  def jpeg() -> tf.Tensor:
    shape = tf.io.extract_jpeg_shape(encoded)
    y, x, side, _ = tf.unstack(_center_square_window(shape[0], shape[1]))
    top, left = tf.maximum(y - JPEG_WINDOW_MARGIN, 0), tf.maximum(x - JPEG_WINDOW_MARGIN, 0)
    bottom = tf.minimum(y + side + JPEG_WINDOW_MARGIN, shape[0])
    right = tf.minimum(x + side + JPEG_WINDOW_MARGIN, shape[1])
    image = tf.io.decode_and_crop_jpeg(
        encoded, tf.stack([top, left, bottom - top, right - left]), channels=3,
        dct_method=JPEG_DCT)
    return image[y - top:y - top + side, x - left:x - left + side]

  def other() -> tf.Tensor:
    image = tf.io.decode_image(encoded, channels=3, expand_animations=False)
    y, x, side, _ = tf.unstack(
        _center_square_window(tf.shape(image)[0], tf.shape(image)[1]))
    return image[y:y + side, x:x + side]

  image = tf.cond(tf.io.is_jpeg(encoded), jpeg, other)
  image.set_shape([None, None, 3])
  return image


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
