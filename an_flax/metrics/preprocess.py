"""Images between uint8 and [-1, 1], and the FID Inception's input as pytorch-fid makes it.

Every network here (G's output, D's and the classifiers' input) works in [-1, 1];
images cross to the devices and back as uint8.

pytorch-fid reads PNG files (uint8), `ToTensor` divides by 255, `InceptionV3` resizes with
`F.interpolate(size=(299, 299), mode='bilinear', align_corners=False)` and then maps
[0, 1] -> [-1, 1] with `2 * x - 1`. Generated images are first quantised to uint8 the way a
PNG writer would see them, so scores equal those of the same samples saved to disk.
"""

import jax
import jax.numpy as jnp

INCEPTION_SIZE = 299


def quantize_to_uint8(images: jax.Array) -> jax.Array:
  """Float images in [-1, 1] -> uint8, as `torchvision.utils.save_image((x + 1) / 2)` does.

  u8 = clip(floor(((x + 1) / 2) * 255 + 0.5), 0, 255) in float32: round half up, with
  out-of-range values clipped.
  """
  x = (images.astype(jnp.float32) + 1.0) / 2.0
  return jnp.clip(jnp.floor(x * 255.0 + 0.5), 0.0, 255.0).astype(jnp.uint8)


def uint8_to_float(images: jax.Array) -> jax.Array:
  """uint8 [0, 255] -> float32 [-1, 1]: how every network here takes images."""
  return images.astype(jnp.float32) / 127.5 - 1.0


def inception_input(images_uint8: jax.Array, size: int = INCEPTION_SIZE) -> jax.Array:
  """uint8 NHWC images of any size -> float32 (N, size, size, C) in [-1, 1].

  Half-pixel-centred bilinear without antialiasing equals torch's
  `F.interpolate(mode='bilinear', align_corners=False)`, also when downsizing.
  """
  x = images_uint8.astype(jnp.float32) / 255.0
  n, _, _, c = x.shape
  x = jax.image.resize(x, (n, size, size, c), "bilinear", antialias=False)
  return 2.0 * x - 1.0
