"""BigGAN's orthogonal regularisation of G (`--G_ortho`), as a change of the gradients.

BigGAN-PyTorch (`utils.ortho`, called in `train_fns.py` after G's backward pass and before
its optimiser step) adds to the gradient of every parameter W with at least two axes,
viewed as torch's (rows, -1) matrix, the gradient of strength * ||W W^T * (1 - I)||_F^2:

  grad += strength * 2 * ((W W^T) * (1 - I)) W

and leaves out 1-d parameters (biases, BatchNorm gains) and the shared class embedding
("it makes no sense"). Torch's rows are the output axis: the last axis of our conv and
dense kernels, the first (classes) of an embedding table. Not a loss term: the regulariser
never enters the loss, its gradient is added to G's.
"""

from typing import Any, Sequence

import flax
import jax
import jax.numpy as jnp
import optax

BIGGAN_BLACKLIST = ("shared",)  # G's shared class embedding (an_flax.models.biggan)


def _rows_axis(name: str, value: jax.Array) -> int:
  """Torch's dim 0 of a parameter: the classes of an 'embedding' table, else the outputs."""
  return 0 if name == "embedding" else value.ndim - 1


def _blacklisted(path: Sequence[str], blacklist: Sequence[str]) -> bool:
  joined = "/".join(path)
  return any(joined == entry or joined.startswith(entry + "/") for entry in blacklist)


def _orthogonal_gradient(weight: jax.Array, rows_axis: int) -> jax.Array:
  """2 ((W W^T) * (1 - I)) W for W = `weight` with `rows_axis` as its rows."""
  matrix = jnp.moveaxis(weight, rows_axis, 0)
  shape = matrix.shape
  matrix = matrix.reshape(shape[0], -1)
  product = lambda a, b: jnp.matmul(a, b, precision=jax.lax.Precision.HIGHEST)
  gram = product(matrix, matrix.T) * (1.0 - jnp.eye(shape[0], dtype=matrix.dtype))
  return jnp.moveaxis((2.0 * product(gram, matrix)).reshape(shape), 0, rows_axis)


def orthogonal_gradients(params: Any, grads: Any, strength: float,
                         blacklist: Sequence[str] = BIGGAN_BLACKLIST) -> Any:
  """`grads` plus the orthogonal regulariser's gradient for every parameter of >= 2 axes.

  `blacklist`: module paths ('/'-joined, e.g. 'shared' or 'block0/bn1') whose parameters
  are left alone.
  """
  flat_params = flax.traverse_util.flatten_dict(flax.core.unfreeze(params))
  flat_grads = flax.traverse_util.flatten_dict(flax.core.unfreeze(grads))
  for path, weight in flat_params.items():
    if weight.ndim >= 2 and not _blacklisted(path, blacklist):
      extra = _orthogonal_gradient(weight, _rows_axis(path[-1], weight))
      flat_grads[path] = flat_grads[path] + strength * extra.astype(flat_grads[path].dtype)
  return flax.traverse_util.unflatten_dict(flat_grads)


def add_orthogonal_gradients(strength: float, blacklist: Sequence[str] = BIGGAN_BLACKLIST
                             ) -> optax.GradientTransformation:
  """`orthogonal_gradients` as the first link of an optax chain: chained before Adam (and
  inside `optax.MultiSteps`), it changes the accumulated gradient once per update, as
  BigGAN-PyTorch does after its accumulation loop."""

  def update(updates, state, params=None):
    if params is None:
      raise ValueError("add_orthogonal_gradients needs the parameters: pass params to "
                       "the optimiser's update.")
    return orthogonal_gradients(params, updates, strength, blacklist), state

  return optax.GradientTransformation(lambda params: optax.EmptyState(), update)
