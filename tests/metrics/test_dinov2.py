"""The Flax DINOv2 ViT and FD_DINOv2, against the torch transcription of DINOv2 and dgm-eval.

A tiny ViT (embed 32, depth 2, heads 2, patch 14, a 4x4 position grid) runs the same code
as ViT-L/14; its random torch weights reach Flax through the converter and the `.npz`.
ViT-L/14 itself is checked by shape (a forward at batch 1 with the round trip takes ~50 s
and 4 GB here; `benchmarks/dinov2_cost.py` compares the two at full size).
Tolerances: features are of unit scale (std ~1); they must agree within 1e-4 absolute.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
from flax import traverse_util
from jax.sharding import Mesh

from an_flax.metrics import convert_dinov2_weights, frechet_distance
from an_flax.metrics.dinov2 import (VIT_L14, DinoVisionTransformer, ViTConfig, dinov2_input,
                                    interpolate_pos_embed, make_dinov2_extractor)
from an_flax.metrics.dinov2_weights import (expected_shapes, load_dinov2_variables, torch_name,
                                            weights_format)
from an_flax.metrics.statistics import compute_statistics
from an_flax.metrics.weights import convert_state_dict, torch_shape
from benchmarks.pytorch import dinov2 as reference

TINY = ViTConfig(embed_dim=32, depth=2, num_heads=2, pos_grid=4)
TINY_TORCH = dict(img_size=56, embed_dim=32, depth=2, num_heads=2)
SIZE = 56  # The tiny network's native input: 4x4 patches, no position interpolation.
ATOL = 1e-4


@pytest.fixture(scope="module")
def torch_model():
  return reference.random_model(seed=0, **TINY_TORCH)


@pytest.fixture(scope="module")
def variables(torch_model, tmp_path_factory):
  folder = tmp_path_factory.mktemp("dinov2")
  torch.save(torch_model.state_dict(), folder / "tiny.pth")
  convert_dinov2_weights.convert(folder / "tiny.pth", folder / "tiny.npz", TINY)
  return load_dinov2_variables(folder / "tiny.npz", TINY)


def torch_features(model, x_nhwc: np.ndarray) -> np.ndarray:
  with torch.no_grad():
    return model(torch.from_numpy(x_nhwc).permute(0, 3, 1, 2)).numpy()


def test_vit_l14_has_the_released_files_names_and_shapes():
  with torch.device("meta"):  # Shapes only: no 1.2 GB of parameters.
    model = reference.DinoVisionTransformer()
  released = {k: tuple(v.shape) for k, v in model.state_dict().items()}
  ours = {torch_name(k): torch_shape(s) for k, s in expected_shapes(VIT_L14).items()}
  assert released.pop("mask_token") == (1, 1024)  # Training only; the converter drops it.
  assert ours == released
  assert released["pos_embed"] == (1, 1 + 37 * 37, 1024)
  assert released["blocks.23.mlp.fc1.weight"] == (4096, 1024)


def test_vit_l14_maps_224_inputs_to_1024_features():
  x = jax.ShapeDtypeStruct((2, 224, 224, 3), jnp.float32)
  model = DinoVisionTransformer(VIT_L14)
  variables = jax.eval_shape(model.init, jax.random.key(0), x)
  out = jax.eval_shape(model.apply, variables, x)
  assert out.shape == (2, 1024) and out.dtype == jnp.float32


@pytest.mark.parametrize("grid,out_h,out_w", [(37, 16, 16), (4, 2, 2), (4, 3, 5), (4, 7, 6)])
def test_position_embeddings_resize_as_interpolate_pos_encoding(grid, out_h, out_w):
  """37 -> 16 is ViT-L/14 at 224; the others shrink, stretch, and grow the grid."""
  dim, patch = 8, 14
  model = reference.DinoVisionTransformer(img_size=grid * patch, patch_size=patch,
                                          embed_dim=dim, depth=0, num_heads=1)
  pos = np.random.default_rng(grid + out_w).normal(size=(1, 1 + grid * grid, dim))
  model.pos_embed.data = torch.from_numpy(pos.astype(np.float32))
  tokens = torch.zeros(1, 1 + out_h * out_w, dim)
  with torch.no_grad():
    expected = model.interpolate_pos_encoding(tokens, out_h * patch, out_w * patch).numpy()
  ours = interpolate_pos_embed(jnp.asarray(pos, jnp.float32), grid, out_h, out_w, 0.1)
  assert ours.shape == expected.shape
  np.testing.assert_allclose(ours, expected, rtol=0, atol=1e-5)


@pytest.mark.parametrize("size", [SIZE, 28, 70])
def test_converted_network_matches_torch_reference(torch_model, variables, size):
  """56: the stored 4x4 grid; 28, 70: position embeddings resized to 2x2 and 5x5."""
  x = np.random.default_rng(size).normal(size=(3, size, size, 3)).astype(np.float32)
  expected = torch_features(torch_model, x)
  assert expected.shape == (3, 32) and 0.5 < expected.std() < 2
  ours = jax.jit(DinoVisionTransformer(TINY).apply)(variables, x)
  np.testing.assert_allclose(ours, expected, rtol=0, atol=ATOL)


def test_small_residual_stream_matches_torch_reference():
  """Class token, position embeddings and LayerScale near 1e-3 (DINOv2 initialises the
  class token at std 1e-6): token variances near LayerNorm's eps 1e-6, which then counts."""
  model = reference.random_model(seed=3, **TINY_TORCH)
  with torch.no_grad():
    for name, p in model.named_parameters():
      if name in ("cls_token", "pos_embed") or name.endswith("gamma"):
        p.mul_(3e-3)
  flat = convert_state_dict(weights_format(TINY),
                            {k: v.numpy() for k, v in model.state_dict().items()})
  x = np.random.default_rng(7).normal(size=(3, SIZE, SIZE, 3)).astype(np.float32)
  expected = torch_features(model, x)
  assert expected.std() > 0.3
  ours = jax.jit(DinoVisionTransformer(TINY).apply)(traverse_util.unflatten_dict(flat, sep="/"),
                                                   x)
  np.testing.assert_allclose(ours, expected, rtol=0, atol=ATOL)


def test_patch_size_must_divide_the_input(variables):
  with pytest.raises(ValueError, match="not a multiple of the patch size 14"):
    DinoVisionTransformer(TINY).apply(variables, jnp.zeros((1, 30, 28, 3)))


@pytest.mark.parametrize("height,width", [(32, 32), (40, 52), (150, 30), (56, 56)])
def test_input_path_is_dgm_evals(height, width):
  """PIL bicubic to 56 (up, mixed, down with Pillow's vertical-first pass, none), /255,
  ImageNet mean and std, against the transcription of dgm-eval's transform."""
  images = np.random.default_rng(height).integers(0, 256, (2, height, width, 3), np.uint8)
  expected = np.stack([reference.dgm_eval_input(image, SIZE).permute(1, 2, 0).numpy()
                       for image in images])
  ours = jax.jit(dinov2_input, static_argnums=1)(images, SIZE)
  np.testing.assert_allclose(ours, expected, rtol=0, atol=1e-6)


def test_extractor_matches_dgm_eval_pipeline(torch_model, variables):
  images = np.random.default_rng(4).integers(0, 256, (3, 40, 52, 3), dtype=np.uint8)
  features, logits = make_dinov2_extractor(variables, config=TINY, image_size=SIZE)(images)
  assert logits is None and features.dtype == np.float32
  np.testing.assert_allclose(features, reference.dgm_eval_features(torch_model, images, SIZE),
                             rtol=0, atol=ATOL)


def test_sharded_extraction_equals_single_device(variables):
  assert jax.device_count() == 8
  samples = np.random.default_rng(5).uniform(-1.1, 1.1, (11, 28, 28, 3)).astype(np.float32)
  sharded = make_dinov2_extractor(variables, config=TINY, image_size=SIZE)
  single = make_dinov2_extractor(variables, mesh=Mesh(jax.devices()[:1], ("data",)),
                                 config=TINY, image_size=SIZE)
  np.testing.assert_allclose(sharded(samples)[0], single(samples)[0], rtol=0, atol=1e-6)


def test_fd_dinov2_equals_dgm_evals(torch_model, variables):
  """Real and 'generated' sets of 48 images each (more than the 32 feature dimensions),
  streamed through the statistics in batches, against dgm-eval on the torch features."""
  rng = np.random.default_rng(6)
  real = rng.integers(0, 256, (48, 32, 32, 3), dtype=np.uint8)
  fake = np.clip(real.astype(int) + rng.integers(-60, 61, real.shape), 0, 255).astype(np.uint8)
  extract = make_dinov2_extractor(variables, config=TINY, image_size=SIZE)
  stats = [compute_statistics(np.split(images, 3), extract)[0] for images in (real, fake)]
  ours = frechet_distance(*stats[0], *stats[1])
  expected = reference.dgm_eval_fd(*(reference.dgm_eval_features(torch_model, images, SIZE)
                           for images in (real, fake)))
  assert expected > 0.1
  np.testing.assert_allclose(ours, expected, rtol=1e-4)
