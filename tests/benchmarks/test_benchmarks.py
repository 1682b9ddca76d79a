"""The benchmarks still run and print their tables (tiny maps; no timing is asserted)."""

import os
import re
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
from absl import flags as absl_flags
from ml_collections import config_flags

from an_flax.data import preprocess
from an_flax.models import build_models
from benchmarks import (attention_cost, fid_throughput, ilsvrc_tars, input_pipeline,
                        jpeg_decode_cost, nonlocal_study, normalize_backward, tf_vs_pil_pixels,
                        timing)

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_attention_cost_table_has_every_row_and_linear_flops():
  table = attention_cost.run([16, 32], channels=8)
  for name in ("AN (ours)", "AN, released code's way", "SA-GAN self-attention",
               attention_cost.FLOOR):
    assert len(re.findall(rf"^\| {re.escape(name)} \| (16x16|32x32) \| [0-9.]+ ms \| [0-9.]+ ms",
                          table, re.M)) == 2, name
  ratios = re.search(r"^\| 32x32 \|((?: [0-9.]+x \|){8})$", table, re.M)
  assert ratios, table
  flops_forward, flops_both = map(float, re.findall(r"([0-9.]+)x", ratios.group(1))[-2:])
  # AN adds a value product, the layout and the region products to the floor's one conv.
  assert 2.0 < flops_forward < flops_both
  growth = re.search(r"XLA flops ([0-9.]+)x", table)
  assert growth and 3.5 < float(growth.group(1)) < 4.5  # 4x the positions, ~4x the work


def test_an_and_the_floor_take_turns_apart_from_the_other_rows(monkeypatch):
  """AN/floor is timed in rounds of its own, before any call of the other rows."""
  phases = []
  measure = timing.interleaved_medians
  monkeypatch.setattr(timing, "interleaved_medians",
                      lambda calls: phases.append(sorted(calls)) or measure(calls, max_runs=3))
  attention_cost.run([16, 32], channels=8)
  names = [{name for name, _, _ in phase} for phase in phases]
  light = set(attention_cost.LIGHT_ROWS)
  assert names[:2] == [light, light], names
  assert all(not phase & light for phase in names[2:]), names
  assert [{size for _, size, _ in phase} for phase in phases[:2]] == [{16}, {32}]
  assert sorted(key for phase in phases for key in phase) == sorted(
      (name, size, column) for name in (*light, "AN, released code's way", "SA-GAN self-attention")
      for size in (16, 32) for column in (0, 1))


def test_normalize_backward_table():
  table = normalize_backward.run([16], channels=8)
  assert re.search(r"^\| 16x16 \| [0-9.]+ ms \| [0-9.]+ ms \| [0-9.]+ ms \| [0-9.]+x \|$",
                   table, re.M)


@pytest.mark.filterwarnings("ignore:os.fork:RuntimeWarning")  # Its workers run PIL and torch.
def test_input_pipeline_table():
  table = input_pipeline.run(images=24, batch_size=4, rounds=1, classes=2, warm=1, timed=2)
  cores = input_pipeline.CORES
  assert table.startswith("24 JPEGs"), table
  assert re.search(rf"^\| {re.escape(input_pipeline.OURS)} \| {cores} threads \| [0-9]+ \| "
                   r"[0-9.]+ \| [0-9.]+x \|$", table, re.M), table
  assert re.search(rf"^\| {re.escape(input_pipeline.PYTORCH)} \| {cores} processes \| "
                   r"[0-9]+ \| [0-9.]+ \| 1.00x \|$", table, re.M), table
  assert re.search(rf"^\| {re.escape(input_pipeline.PREPARED)} \| [0-9]+ threads \| [0-9]+ \| "
                   r"[0-9.]+ \| [0-9.]+x \|$", table, re.M), table
  for name, ratio in ((input_pipeline.PREPARE_OURS, r"[0-9.]+x"),
                      (input_pipeline.PREPARE_STUDIOGAN, r"1.00x")):
    assert re.search(rf"^\| {re.escape(name)} \| {cores} processes \| [0-9]+ \| [0-9.]+ \| "
                     rf"{ratio} \|$", table, re.M), table


def test_tf_vs_pil_pixels_table():
  """The prepared path is PIL's pixels exactly; the on-the-fly rows are counted."""
  table = tf_vs_pil_pixels.run(images=6, size=16)
  rows = dict(re.findall(r"^\| ([^|]+) \| ([0-9,]+) of 4,608 \|", table, re.M))
  assert list(rows) == [tf_vs_pil_pixels.PREPARED, tf_vs_pil_pixels.ON_THE_FLY,
                        tf_vs_pil_pixels.FLOORED], table
  assert rows[tf_vs_pil_pixels.PREPARED] == "0", table


def test_pytorch_side_makes_our_images(tmp_path):
  """PIL's full decode, long-edge crop and bilinear resize give our decode's images
  (500x333: torchvision's crop offset 83.5 rounds to 84, as ours does)."""
  rng = np.random.default_rng(0)
  jpegs = [ilsvrc_tars.encode_jpeg(input_pipeline.photo(width, height, rng), 90)
           for width, height in ((500, 375), (375, 500), (500, 500), (1000, 800), (500, 333))]
  (tmp_path / "n0").mkdir()
  for k, payload in enumerate(jpegs):
    (tmp_path / "n0" / f"n0_{k}.JPEG").write_bytes(payload)
  theirs = input_pipeline.CenterCropFolder(tmp_path, input_pipeline.IMAGE_SIZE)
  for k, payload in enumerate(jpegs):
    ours = preprocess.decode_example({"image": tf.constant(payload), "label": 0},
                                     input_pipeline.IMAGE_SIZE)["image"].numpy()
    image, label = theirs[k]
    difference = np.abs(image.permute(1, 2, 0).numpy().astype(int) - ours)
    assert label == 0 and difference.max() <= 1 and difference.mean() < 0.2, k


def test_jpeg_decode_cost_table_times_every_row_and_compares_pixels_with_ours():
  table = jpeg_decode_cost.run(images=3, rounds=1)
  rows = dict(re.findall(r"^\| (.+?) \| [0-9.]+ \| [0-9.]+x \| (.+?) \|$", table, re.M))
  assert list(rows) == [*jpeg_decode_cost.PIL_ROWS, *jpeg_decode_cost.TF_ROWS], table
  assert rows[jpeg_decode_cost.OURS] == "0.00", table
  assert float(rows[jpeg_decode_cost.AXIS_BY_AXIS]) < 0.01, table  # float sums' order only
  assert float(rows[jpeg_decode_cost.PIL_WORK]) < 0.2, table  # 500x375 photos: PIL's pixels
  assert rows["TF: whole JPEG decoded"] == "(not 128x128)", table


def test_jpeg_check_fails_when_the_sides_read_other_bytes(tmp_path):
  folder = input_pipeline.write_data(tmp_path, count=4, classes=2)
  config = input_pipeline.prepared_config(tmp_path, batch_size=2)
  assert input_pipeline.check_same_jpegs(config, folder) == 4
  first = sorted(folder.glob("*/*.JPEG"))[0]
  first.write_bytes(first.read_bytes() + b"\0")
  with pytest.raises(AssertionError, match="differ"):
    input_pipeline.check_same_jpegs(config, folder)


def test_fid_throughput_table():
  table = fid_throughput.run(batch_size=2, image_size=32, inception_size=75, budget_s=0.0)
  assert "batch 2, resized to 75x75" in table, table
  for name, ratio in ((fid_throughput.OURS, r"[0-9.]+x"), (fid_throughput.PYTORCH, "1.00x")):
    assert re.search(rf"^\| {re.escape(name)} \| [0-9]+ \| [0-9.]+ \| [0-9.]+ \| {ratio} \|$",
                     table, re.M), table


def test_fid_sides_compute_the_same_features():
  images = np.random.default_rng(0).integers(0, 256, (2, 32, 32, 3), dtype=np.uint8)
  ours, theirs = (fid_throughput.extractors(inception_size=75)[name](images)
                  for name in (fid_throughput.OURS, fid_throughput.PYTORCH))
  for actual, expected in zip(ours, theirs):
    assert actual.shape == expected.shape and np.std(expected) > 1e-2
    np.testing.assert_allclose(actual, expected, rtol=1e-4, atol=1e-4 * np.abs(expected).max())


def test_gpu_suite_runs_at_toy_sizes_and_writes_its_tables(tmp_path):
  """benchmarks/gpu_suite.sh with SMALL=1 on the CPU, where TensorFlow, TFDS, clu and
  orbax cannot be imported (a GPU machine need not have them): every results file, each
  with its table and the device named."""
  blocker = tmp_path / "blocked_imports"
  blocker.mkdir()
  (blocker / "sitecustomize.py").write_text(
      "import sys\n"
      "for name in ('tensorflow', 'tensorflow_datasets', 'clu', 'orbax'):\n"
      "  sys.modules[name] = None\n")
  results = tmp_path / "results"
  env = {**os.environ, "SMALL": "1", "RESULTS": str(results), "PYTHON": sys.executable,
         "PYTHONPATH": str(blocker), "JAX_PLATFORMS": "cpu",
         "XLA_FLAGS": "--xla_backend_optimization_level=0"}  # compiles faster; no timing is asserted
  result = subprocess.run(["bash", "benchmarks/gpu_suite.sh"], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=600)
  assert result.returncode == 0, result.stderr[-3000:]
  assert sorted(os.listdir(results)) == ["attention_cost_gpu.md", "fid_throughput_gpu.md",
                                         "train_step_time_8_gpu.md",
                                         "train_step_time_updates_gpu.md"]
  step_table = (results / "train_step_time_8_gpu.md").read_text()
  assert re.search(r"^\| default \| 32 \| float32 \|.*\| n/a \|$", step_table, re.M), step_table
  assert "Device: cpu" in step_table
  gan_table, inpainting_table = (results / "train_step_time_updates_gpu.md").read_text().split(
      "## Inpainting default")
  row = r"^\| ([0-9]+) \| (scan|unroll) \| ([0-9]+) \| [0-9.]+ \| [0-9]+ \|$"
  convolutions = {(int(n), loop): int(count)
                  for n, loop, count in re.findall(row, gan_table, re.M)}
  assert sorted(convolutions) == [(2, "scan"), (2, "unroll")]
  assert convolutions[2, "scan"] < convolutions[2, "unroll"]  # one D update's body, against two
  inpainting_rows = re.findall(r"^\| ([0-9]+) \| (scan|unroll) \| [0-9.]+ \| [0-9]+ \|$",
                               inpainting_table, re.M)
  assert inpainting_rows == [("2", "scan"), ("2", "unroll")]
  for name in ("attention_cost_gpu.md", "fid_throughput_gpu.md"):
    assert "| " in (results / name).read_text()
  assert re.search(r"^gpu_suite: all parts took [0-9]+ s$", result.stdout, re.M), result.stdout


@pytest.mark.parametrize("variant", nonlocal_study.DEFAULT_VARIANTS)
def test_nonlocal_study_flags_give_the_variant_s_models(variant):
  """Each variant's train.py flags parse as train.py parses them and build G and D with
  the variant's non-local modules (no run: the study itself is outside CI)."""
  argv = ["train.py", f"--config={os.path.join(REPO, 'configs', 'default.py')}",
          *nonlocal_study.run_flags(variant, 3, ["--config.num_train_steps=7"])]
  values = absl_flags.FlagValues()  # train.py's flag, on its own registry
  config_flags.DEFINE_config_file("config", None, flag_values=values, lock_config=True,
                                  sys_argv=argv)
  values(argv)
  config = values.config
  spec = nonlocal_study.parse_variant(variant)
  assert (config.seed, config.num_train_steps) == (3, 7)
  for field, (kind, resolutions, inside) in (("g_nonlocal", spec.g), ("d_nonlocal", spec.d)):
    assert config.model[field].kind == kind
    if kind != "none":
      assert tuple(config.model[field].resolutions) == resolutions
      assert config.model[field].inside_blocks == inside
  for path, value in spec.overrides.items():
    section, name = path.split(".")
    assert config[section][name] == value
  generator, discriminator = build_models(config.model)  # checks the placements
  assert generator is not None and discriminator is not None


def test_nonlocal_study_variant_names():
  """The placements and labels the study's results and the README were written with."""
  an32 = nonlocal_study.parse_variant("an32")
  assert an32.g == ("attentive_norm", (32,), False)  # after G's last block
  assert an32.d == ("attentive_norm", (32,), True)  # inside D's first: none ends at 32
  assert nonlocal_study.parse_variant("sa16").d == ("self_attention", (16,), False)
  labels = {name: nonlocal_study.parse_variant(name).label
            for name in nonlocal_study.DEFAULT_VARIANTS}
  assert labels == {
      "an16": "AN at 16x16 (default)", "an32": "AN at 32x32",
      "sa16": "SA-GAN self-attention at 16x16", "none": "no non-local module",
      "an16_ortho1e-4": "AN at 16x16, orthogonality weight 1e-4",
      "an16_ortho0": "AN at 16x16, no orthogonality penalty"}
  assert nonlocal_study.parse_variant("an16_ortho1e-4").overrides == {
      "loss.orthogonal_weight": 1e-4}
  with pytest.raises(ValueError, match="Unknown variant 'xx16'"):
    nonlocal_study.parse_variant("xx16")


def test_fid_throughput_refuses_a_gpu_for_jax_and_none_for_torch(monkeypatch):
  """Both networks run on the same device kind or the ratio means nothing."""
  monkeypatch.setattr(fid_throughput.jax, "default_backend", lambda: "gpu")
  monkeypatch.setattr(fid_throughput.torch.cuda, "is_available", lambda: False)
  with pytest.raises(RuntimeError, match="torch sees none: install a CUDA build of torch"):
    fid_throughput.on_gpu()
  monkeypatch.setattr(fid_throughput.jax, "default_backend", lambda: "cpu")
  assert not fid_throughput.on_gpu()
