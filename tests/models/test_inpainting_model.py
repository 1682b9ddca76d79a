"""Generator and critics: shapes, value ranges, the composite, the exposed AN layout."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from an_flax.data import masks
from an_flax.models import inpainting
from an_flax.models import sum_sown_losses

WIDTH = 4  # tiny: 4w = 16 channels at 1/4 resolution (SelfAttention needs a multiple of 8)
# RBG keys for parameter init: XLA:CPU compiles ~40 threefry initialisers about 10x slower.
INIT_KEY = jax.random.key(0, impl="rbg")


def _batch(size):
  image = jax.random.uniform(jax.random.PRNGKey(0), (2, size, size, 3), minval=-1.0, maxval=1.0)
  mask, corners = masks.random_rectangles(jax.random.PRNGKey(1), 2, (size, size))
  return image, mask, corners


def test_attentive_norm_generator_shapes_ranges_and_layout():
  image, mask, _ = _batch(64)
  model = inpainting.InpaintingGenerator(width=WIDTH, non_local="attentive_norm")
  variables = jax.jit(model.init)(INIT_KEY, image, mask)
  apply = jax.jit(lambda v, x, m, k: model.apply(
      v, x, m, train=True, rngs={"sampling": k}, mutable=["intermediates", "losses"]))
  (coarse, refined), state = apply(variables, image, mask, jax.random.PRNGKey(3))
  # The generator masks its input itself: hole contents cannot leak into outputs.
  (coarse_noisy, refined_noisy), _ = apply(variables, image + 5.0 * mask, mask,
                                           jax.random.PRNGKey(3))
  np.testing.assert_array_equal(np.asarray(coarse), np.asarray(coarse_noisy))
  np.testing.assert_array_equal(np.asarray(refined), np.asarray(refined_noisy))
  for out in (coarse, refined):
    assert out.shape == image.shape and out.dtype == jnp.float32
    assert float(jnp.min(out)) >= -1.0 and float(jnp.max(out)) <= 1.0
  masked = image * (1.0 - mask)
  final = inpainting.composite(refined, masked, mask)
  known = np.asarray(mask[..., 0]) == 0
  np.testing.assert_array_equal(np.asarray(final)[known], np.asarray(image)[known])
  hole = ~known
  np.testing.assert_array_equal(np.asarray(final)[hole], np.asarray(refined)[hole])
  (layout,) = inpainting.attentive_norm_layouts(state["intermediates"])
  assert layout.shape == (2, 16, 16, 16)  # 1/4 resolution, n = 16 entities
  np.testing.assert_allclose(np.asarray(layout).sum(-1), 1.0, rtol=1e-5)
  assert float(sum_sown_losses(state["losses"])) > 0.0


def test_self_attention_and_no_non_local_module():
  image, mask, _ = _batch(32)
  model = inpainting.InpaintingGenerator(width=WIDTH, non_local="self_attention")
  variables = jax.jit(model.init)(INIT_KEY, image, mask)
  coarse, refined = jax.jit(model.apply)(variables, image, mask)
  assert coarse.shape == refined.shape == image.shape
  assert "self_attention" in variables["params"]["non_local_branch"]
  plain = inpainting.InpaintingGenerator(width=WIDTH, non_local="none")
  shapes = jax.eval_shape(plain.init, INIT_KEY, image, mask)
  assert set(shapes["params"]["non_local_branch"]) == {f"Conv_{i}" for i in range(8)}
  assert jax.eval_shape(plain.apply, shapes, image, mask)[1].shape == image.shape


def test_bad_sizes_and_kinds_are_rejected():
  image, mask = jnp.zeros((1, 30, 32, 3)), jnp.zeros((1, 30, 32, 1))
  with pytest.raises(ValueError, match="divisible by 4"):
    inpainting.InpaintingGenerator(width=WIDTH).init(jax.random.PRNGKey(0), image, mask)
  image, mask = jnp.zeros((1, 32, 32, 3)), jnp.zeros((1, 32, 32, 1))
  with pytest.raises(ValueError, match="non_local"):
    inpainting.InpaintingGenerator(width=WIDTH, non_local="contextual").init(
        jax.random.PRNGKey(0), image, mask)


def test_critics_score_each_example():
  image, mask, corners = _batch(64)
  patches = masks.crop_patches(image, corners, masks.default_hole_size((64, 64)))
  critics = inpainting.InpaintingCritics(width=4)
  variables = jax.jit(critics.init)(INIT_KEY, image, patches)
  global_scores, local_scores = jax.jit(critics.apply)(variables, image, patches)
  assert global_scores.shape == local_scores.shape == (2,)
  # 4 stride-2 convs per critic: global (1, 2, 4, 4) x width, local (1, 2, 4, 8).
  assert variables["params"]["global_net"]["Dense_0"]["kernel"].shape == (4 * 4 * 16, 1)
  assert variables["params"]["local_net"]["Dense_0"]["kernel"].shape == (2 * 2 * 32, 1)
  alone = jax.jit(lambda v, x: critics.apply(v, x, method=critics.global_critic))(
      variables, image[:1])
  np.testing.assert_allclose(np.asarray(alone), np.asarray(global_scores[:1]), rtol=1e-5, atol=1e-6)
