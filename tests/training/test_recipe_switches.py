"""DiffAugment and LeCam in the compiled step, BigGAN's G_ortho in G's optimiser, and
LeCam's anchors in checkpoints (old checkpoints, without them, still restore)."""

import flax
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from an_flax.models import build_models
from an_flax.runtime import checkpoints
from an_flax.runtime import mesh as mesh_lib
from an_flax.training import diffaug, lecam, ortho, state as state_lib
from training.helpers import FAST_COMPILE
from training.recipe_helpers import Step, random_batch, recipe_config

# The fields of the train state before LeCam: what a checkpoint of that code holds.
FIELDS_BEFORE_LECAM = ("step", "rng", "g_params", "g_state", "d_params", "d_state",
                       "g_opt_state", "d_opt_state", "ema_params", "ema_state")


def test_d_sees_augmented_images_in_both_updates_and_lecam_moves_its_anchors(monkeypatch):
  """With an augmentation that erases every image: G gets no gradient at all (its fakes
  reach D only through the augmentation), D's mean real logit is D's on blank images, and
  LeCam's anchors move as StudioGAN's do from those logits (decay 0.9 from step 0; the
  term counts from step 1). The augmentation sees D's real-and-fake batch in the D update
  and G's fakes in the G update."""
  seen = []

  def erase(images, key, policy):
    seen.append((images.shape, policy))
    return jnp.zeros_like(images)

  monkeypatch.setattr(diffaug, "diff_augment", erase)
  config = recipe_config(**{"augment.diffaug_policy": "color,cutout", "loss.lecam_lambda": 0.5,
                            "loss.lecam_ema_decay": 0.9, "loss.lecam_ema_start_iter": 0})
  step = Step(config)
  batch_size = config.batch_size
  assert seen == [((2 * batch_size, 16, 16, 3), "color,cutout"),
                  ((batch_size, 16, 16, 3), "color,cutout")]
  batch = random_batch(config, np.random.default_rng())
  initial = step.initial
  assert float(initial.lecam.real) == float(initial.lecam.fake) == lecam.INITIAL_ANCHOR

  first, metrics = step.run(batch)
  for before, after in zip(jax.tree.leaves(initial.g_params), jax.tree.leaves(first.g_params)):
    np.testing.assert_array_equal(before, after)
  logits, _ = step.discriminator.apply(
      {"params": initial.d_params, **initial.d_state}, jnp.zeros((batch_size, 16, 16, 3)),
      batch["label"][0], train=True, mutable=["spectral"])
  np.testing.assert_allclose(metrics["d_real"], np.mean(logits), rtol=1e-5)
  assert metrics["d_lecam"] == 0  # step 0: the term counts after the start step
  for anchor, mean in ((first.lecam.real, metrics["d_real"]),
                       (first.lecam.fake, metrics["d_fake"])):
    np.testing.assert_allclose(anchor, 0.9 * lecam.INITIAL_ANCHOR + 0.1 * mean, rtol=1e-6)

  second, metrics = step.run(batch, first)
  assert metrics["d_lecam"] > 0
  np.testing.assert_allclose(second.lecam.real, 0.9 * first.lecam.real + 0.1 * metrics["d_real"],
                             rtol=1e-6)


def test_g_ortho_adds_biggans_gradient_before_adam():
  """`optim.g_ortho > 0`: G's update is Adam's of gradient + the orthogonal gradient of
  `ortho.orthogonal_gradients` (the shared embedding left out); 0: Adam's alone, with the
  optimiser state of before (checkpoints unchanged)."""
  rng = np.random.default_rng()
  params = {"conv": {"kernel": rng.standard_normal((3, 3, 4, 6)).astype(np.float32)},
            "shared": {"embedding": rng.standard_normal((5, 8)).astype(np.float32)},
            "bias": rng.standard_normal(6).astype(np.float32)}
  grads = jax.tree.map(lambda p: rng.standard_normal(p.shape).astype(np.float32), params)
  config = recipe_config(**{"optim.g_ortho": 1e-2, "optim.lr_decay": "none"})
  g_tx, _ = state_lib.make_optimizers(config)
  adam = optax.adam(optax.constant_schedule(config.optim.g_lr), config.optim.b1,
                    config.optim.b2, config.optim.eps)
  updates, _ = g_tx.update(grads, g_tx.init(params), params)
  expected, _ = adam.update(ortho.orthogonal_gradients(params, grads, 1e-2), adam.init(params),
                            params)
  for a, b in zip(jax.tree.leaves(updates), jax.tree.leaves(expected)):
    np.testing.assert_allclose(a, b, rtol=1e-6)
  assert not np.allclose(updates["conv"]["kernel"], adam.update(grads, adam.init(params))[0][
      "conv"]["kernel"])
  plain, _ = state_lib.make_optimizers(recipe_config(**{"optim.lr_decay": "none"}))
  assert jax.tree.structure(plain.init(params)) == jax.tree.structure(adam.init(params))
  _, adam_state = g_tx.init(params)
  assert jax.tree.structure(adam_state) == jax.tree.structure(adam.init(params))


def _abstract_state(config):
  """The abstract state of `config` with its shardings, and its init function."""
  generator, discriminator = build_models(config.model)
  g_tx, d_tx = state_lib.make_optimizers(config)
  init = lambda key: state_lib.create_train_state(config, generator, discriminator, g_tx, d_tx,
                                                  key)
  return checkpoints.abstract_state(init, mesh_lib.create_mesh(jax.devices()[:1])), init


def _restore(workdir, config, abstract):
  checkpointer = checkpoints.Checkpointer(workdir, 1, 2)
  try:
    return checkpointer.restore(3, abstract, config)
  finally:
    checkpointer.close()


def _save(workdir, config, tree):
  checkpointer = checkpoints.Checkpointer(workdir, 1, 2)
  checkpointer.save(3, tree, config)
  checkpointer.wait()
  checkpointer.close()


def test_checkpoints_without_lecam_restore_and_lecam_anchors_resume(tmp_path):
  """A checkpoint of the state before LeCam (its ten fields) restores into today's state;
  a LeCam run's anchors come back as saved; a LeCam run refuses a checkpoint without them,
  naming them."""
  config = recipe_config()
  abstract, init = _abstract_state(config)
  state = jax.jit(init, compiler_options=FAST_COMPILE)(jax.random.PRNGKey(0))
  assert state.lecam is None
  old = {field: flax.serialization.to_state_dict(getattr(state, field))
         for field in FIELDS_BEFORE_LECAM}
  assert flax.serialization.to_state_dict(state).keys() == old.keys()
  _save(tmp_path / "old", config, old)
  restored = _restore(tmp_path / "old", config, abstract)
  assert restored.lecam is None
  for a, b in zip(jax.tree.leaves(restored), jax.tree.leaves(state), strict=True):
    np.testing.assert_array_equal(a, b)

  lecam_config = recipe_config(**{"loss.lecam_lambda": 0.3})
  lecam_abstract, _ = _abstract_state(lecam_config)
  assert lecam_abstract.lecam.real.shape == () and lecam_abstract.lecam.fake.dtype == jnp.float32
  moved = state.replace(lecam=lecam.LeCamAnchors(real=jnp.float32(1.5), fake=jnp.float32(-2.5)))
  _save(tmp_path / "lecam", lecam_config, moved)
  resumed = _restore(tmp_path / "lecam", lecam_config, lecam_abstract)
  assert (float(resumed.lecam.real), float(resumed.lecam.fake)) == (1.5, -2.5)
  with pytest.raises(checkpoints.IncompatibleCheckpointError, match=r"lecam"):
    _restore(tmp_path / "old", lecam_config, lecam_abstract)
