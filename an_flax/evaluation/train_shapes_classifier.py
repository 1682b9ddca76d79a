r"""Trains the shapes classifier from the generated train split and writes its weights.

  python -m an_flax.evaluation.train_shapes_classifier --image_size 32 [--data_dir DIR]

writes `an_flax/metrics/shapes_classifier_<S>x<S>.npz` (the network:
an_flax/metrics/shapes_classifier.py) and a `.json` record of the run, with the accuracy
on the test split that tests/evaluation/test_shapes_classifier.py pins. The data is
generated into `--data_dir` on first use (TFDS's default folder when unset); nothing is
downloaded.

Light augmentation keeps the classifier's answer stable under what a GAN gets slightly
wrong: left/right flips (every class is symmetric under them) and Gaussian noise of a
random strength up to `NOISE_STD`. Neither changes the hue, the shape or the layout, which
define a class.

Deterministic: the split is read in its on-disk order (fixed by TFDS for the generated
data); the initialisation, the per-epoch order (numpy) and the augmentation (jax.random)
all come from `--seed`; training runs on one device in float32. The same code, seed, jax /
XLA version and CPU type give bit-identical weights (other CPUs may round float sums
differently in the last bits). Evaluating given weights on the test split is deterministic
too: one device, fixed batches (`split_accuracy`).
"""

import time
from typing import Any, Tuple

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
from absl import app, flags, logging
from jax.sharding import Mesh

from an_flax.evaluation import shapes_metrics
from an_flax.metrics import shapes_classifier as classifier_lib
from an_flax.metrics.preprocess import uint8_to_float

BATCH_SIZE = 64
EPOCHS = 12
LEARNING_RATE = 1e-3
NOISE_STD = 0.1  # in [-1, 1] units: up to about 13 uint8 levels
EVAL_BATCH_SIZE = 100

_IMAGE_SIZE = flags.DEFINE_enum("image_size", "32", [str(s) for s in classifier_lib.IMAGE_SIZES],
                                "Image side of the classifier.")
_DATA_DIR = flags.DEFINE_string("data_dir", None, "TFDS data_dir of symmetric_shapes.")
_SEED = flags.DEFINE_integer("seed", 0, "Seed of initialisation, order and augmentation.")
_OUTPUT = flags.DEFINE_string("output", None,
                              "Weights file (default: the shipped one, beside the network).")


def load_split(image_size: int, split: str, data_dir: str | None) -> Tuple[np.ndarray, np.ndarray]:
  """All (uint8 images, labels) of a split in on-disk order (generated on first use)."""
  config = ml_collections.ConfigDict({"dataset": {
      "name": "symmetric_shapes", "image_size": image_size, "data_dir": data_dir}})
  return shapes_metrics.read_split(config, split, EVAL_BATCH_SIZE)


def split_accuracy(variables: Any, images: np.ndarray, labels: np.ndarray) -> float:
  """Fraction of `images` classified as their label: one device, batches of 100."""
  extract = classifier_lib.make_shapes_extractor(
      variables, mesh=Mesh(jax.devices()[:1], ("data",)))
  correct = sum(int(np.sum(np.argmax(extract(images[i:i + EVAL_BATCH_SIZE])[1], -1)
                           == labels[i:i + EVAL_BATCH_SIZE]))
                for i in range(0, len(images), EVAL_BATCH_SIZE))
  return correct / len(images)


def _augment(key: jax.Array, x: jax.Array) -> jax.Array:
  """Random left/right flips and Gaussian noise of strength U(0, NOISE_STD) per image."""
  flip_key, std_key, noise_key = jax.random.split(key, 3)
  flip = jax.random.bernoulli(flip_key, 0.5, (x.shape[0], 1, 1, 1))
  x = jnp.where(flip, x[:, :, ::-1], x)
  std = jax.random.uniform(std_key, (x.shape[0], 1, 1, 1), maxval=NOISE_STD)
  return x + std * jax.random.normal(noise_key, x.shape)


def train(images: np.ndarray, labels: np.ndarray, seed: int) -> Tuple[Any, int]:
  """Adam with a cosine-decayed rate, `EPOCHS` epochs; returns (variables, steps)."""
  model = classifier_lib.ShapesClassifier()
  steps_per_epoch = len(images) // BATCH_SIZE
  num_steps = EPOCHS * steps_per_epoch
  key = jax.random.PRNGKey(seed)
  variables = model.init(jax.random.fold_in(key, 0), jnp.zeros((1, *images.shape[1:])))
  tx = optax.adam(optax.cosine_decay_schedule(LEARNING_RATE, num_steps))
  opt_state = tx.init(variables)

  @jax.jit
  def step(variables, opt_state, images, labels, key):
    x = _augment(key, uint8_to_float(images))

    def loss_fn(variables):
      _, logits = model.apply(variables, x)
      return optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()

    loss, grads = jax.value_and_grad(loss_fn)(variables)
    updates, opt_state = tx.update(grads, opt_state)
    return optax.apply_updates(variables, updates), opt_state, loss

  order_rng = np.random.default_rng(seed)
  for epoch in range(EPOCHS):
    order = order_rng.permutation(len(images))
    for i in range(steps_per_epoch):
      rows = order[i * BATCH_SIZE:(i + 1) * BATCH_SIZE]
      index = epoch * steps_per_epoch + i
      variables, opt_state, loss = step(variables, opt_state, images[rows], labels[rows],
                                        jax.random.fold_in(key, index + 1))
    logging.info("Epoch %d: loss %.4f.", epoch + 1, float(loss))
  return variables, num_steps


def main(argv: list[str]) -> None:
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
  size, seed = int(_IMAGE_SIZE.value), _SEED.value
  start = time.monotonic()
  train_images, train_labels = load_split(size, "train", _DATA_DIR.value)
  variables, num_steps = train(train_images, train_labels, seed)
  train_seconds = time.monotonic() - start
  test_images, test_labels = load_split(size, "test", _DATA_DIR.value)
  record = {
      "image_size": size,
      "test_accuracy": split_accuracy(variables, test_images, test_labels),
      "train_accuracy": split_accuracy(variables, train_images, train_labels),
      "num_train": len(train_images), "num_test": len(test_images),
      "seed": seed, "steps": num_steps, "batch_size": BATCH_SIZE,
      "learning_rate": LEARNING_RATE, "noise_std": NOISE_STD,
      "train_seconds": round(train_seconds, 1),
      "command": classifier_lib.TRAIN_COMMAND.format(size=size),
      "jax": jax.__version__, "device": jax.devices()[0].device_kind,
  }
  path = _OUTPUT.value or classifier_lib.weights_path(size)
  classifier_lib.save_shapes_classifier(path, variables, record)
  print(f"Wrote {path}: test accuracy {record['test_accuracy']:.4f} "
        f"({record['num_test']} images), trained in {record['train_seconds']} s.")


if __name__ == "__main__":
  app.run(main)
