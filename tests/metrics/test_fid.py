"""`python -m an_flax.metrics.fid A B`: folders (flat or per class), statistics and features
files, against pytorch-fid's path written out in torch (PIL, ToTensor, bilinear resize, the
transcribed FID Inception with the same random weights), clean-fid's (--resize clean) and
dgm-eval's (--metrics fd_dinov2)."""

import os
import re

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from an_flax.metrics import fid, load_statistics, networks, save_statistics
from an_flax.metrics.feature_files import FeatureSpace, load_features, save_features
from an_flax.metrics.networks import weights_sha256
from an_flax.metrics.statistics import Statistics
from benchmarks.pytorch import dinov2, inception_inputs

SIZE = 75  # the Inception input size of these tests (299 in use)


def _write(folder, names, rng, sizes):
  os.makedirs(folder, exist_ok=True)
  for name, (height, width) in zip(names, sizes):
    pixels = rng.integers(0, 256, (height // 4, width // 4, 3), dtype=np.uint8)
    image = Image.fromarray(pixels).resize((width, height), Image.BICUBIC)
    image.save(os.path.join(folder, name), quality=90)


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
  """A: flat, PNG and JPEG (upper-case extension too) and a file that is no image;
  B: <split>/<class>/ folders with images of two sizes."""
  root, rng = tmp_path_factory.mktemp("fid"), np.random.default_rng()
  a = str(root / "a")
  _write(a, ["0.png", "1.png", "2.jpg", "3.JPEG", "4.png", "5.png"], rng, [(32, 32)] * 6)
  with open(os.path.join(a, "notes.txt"), "w") as f:
    f.write("not an image")
  b = str(root / "b" / "train")
  _write(os.path.join(b, "cat"), ["0.png", "1.png", "2.png"], rng, [(32, 32)] * 3)
  _write(os.path.join(b, "dog"), ["0.png", "1.png", "2.png"], rng, [(40, 48)] * 3)
  return a, b


def _pytorch_fid_features(files, model):
  """pytorch-fid's way: PIL RGB, ToTensor, F.interpolate bilinear, 2x - 1, pool3."""
  features = []
  with torch.no_grad():
    for path in files:
      x = torch.from_numpy(np.asarray(Image.open(path).convert("RGB")).copy())
      x = x.permute(2, 0, 1)[None].float() / 255.0
      x = F.interpolate(x, size=(SIZE, SIZE), mode="bilinear", align_corners=False)
      features.append(model(2 * x - 1)[0].numpy().astype(np.float64))
  return np.concatenate(features)


def _fid(args, capsys):
  fid.main([*args, "--inception_size", str(SIZE), "--batch_size", "4"])
  out = capsys.readouterr().out
  match = re.search(r"^FID: (\S+)$", out, re.M)
  return float(match.group(1)) if match else None, out


def test_fid_of_folders_and_statistics_files_is_pytorch_fids(folders, inception_weights,
                                                            torch_reference, tmp_path, capsys,
                                                            monkeypatch):
  """The statistics of both inputs are pytorch-fid's and go to `frechet_distance` (tested
  against pytorch-fid in test_scores.py; stood in for here, since one sqrtm of 2048x2048
  takes this CPU 5 to 15 s)."""
  a, b = folders
  files_a = [os.path.join(a, n) for n in ("0.png", "1.png", "2.jpg", "3.JPEG", "4.png", "5.png")]
  files_b = [os.path.join(b, c, f"{i}.png") for c in ("cat", "dog") for i in range(3)]
  features_a = _pytorch_fid_features(files_a, torch_reference)
  features_b = _pytorch_fid_features(files_b, torch_reference)

  saved = str(tmp_path / "a.npz")
  value, out = _fid([a, "--inception_weights", inception_weights, "--save_stats", saved], capsys)
  assert value is None and f"{a}: 6 images" in out
  stats = load_statistics(saved)
  np.testing.assert_allclose(stats.mu, features_a.mean(0), rtol=1e-4, atol=1e-5)
  np.testing.assert_allclose(stats.sigma, np.cov(features_a, rowvar=False), rtol=1e-3, atol=1e-5)

  given = []
  monkeypatch.setattr(fid, "frechet_distance", lambda *args: given.append(args) or 12.5)
  value, out = _fid([saved, b, "--inception_weights", inception_weights], capsys)
  assert f"{b}: 6 images" in out and value == 12.5
  (mu_a, sigma_a, mu_b, sigma_b), = given
  np.testing.assert_array_equal(mu_a, stats.mu)
  np.testing.assert_array_equal(sigma_a, stats.sigma)
  np.testing.assert_allclose(mu_b, features_b.mean(0), rtol=1e-4, atol=1e-5)
  np.testing.assert_allclose(sigma_b, np.cov(features_b, rowvar=False), rtol=1e-3, atol=1e-5)


@pytest.mark.parametrize("case, message", [
    ("splits", r"holds no images .* nor class folders of images; give a folder of images "
               r".* Its folders \['train'\] hold class folders of images: give one split, "
               r"e\.g\. .*/b/train\."),
    ("empty", r"holds no images"),
    ("missing", r"does not exist; give a folder of images"),
    ("not_stats", r"is not an \.npz with 'mu' and 'sigma'"),
    ("one_image", r"Need at least 2 samples"),
])
def test_a_bad_input_is_one_message(case, message, folders, inception_weights, tmp_path, capsys):
  a, b = folders
  path = {"splits": os.path.dirname(b), "empty": str(tmp_path), "missing": str(tmp_path / "x"),
          "not_stats": os.path.join(a, "notes.txt"), "one_image": str(tmp_path / "one")}[case]
  if case == "one_image":
    _write(path, ["0.png"], np.random.default_rng(), [(32, 32)])
  with pytest.raises(SystemExit) as exit_info:
    fid.main([path, a, "--inception_weights", inception_weights, "--inception_size", str(SIZE)])
  assert exit_info.value.code != 0
  assert re.search(message, str(exit_info.value.code)), exit_info.value.code
  assert str(exit_info.value.code).startswith("an_flax.metrics.fid: ")


@pytest.fixture(scope="module")
def same_size_folders(tmp_path_factory):
  """A and B: 7 PNGs each (more than k = 5 neighbours), all 32x32 (one compiled program)."""
  root, rng = tmp_path_factory.mktemp("fid_metrics"), np.random.default_rng()
  names = [f"{i}.png" for i in range(7)]
  a, b = str(root / "a"), str(root / "b")
  _write(a, names, rng, [(32, 32)] * 7)
  _write(b, names, rng, [(32, 32)] * 7)
  return [os.path.join(a, n) for n in names], [os.path.join(b, n) for n in names]


def _clean_fid_features(files, model):
  """clean-fid's input path (transcribed) into the transcribed network: pool3 features."""
  images = np.stack([np.asarray(Image.open(path).convert("RGB")) for path in files])
  x = torch.from_numpy(inception_inputs.clean_fid_input(images, SIZE)).permute(0, 3, 1, 2)
  with torch.no_grad():
    return model(x)[0].numpy().astype(np.float64)


def _recorder(given, name, result):
  """Stands in for a metric: records its arguments under `name`, returns `result`."""
  def metric(*args):
    given[name] = args
    return result
  return metric


def test_features_file_and_every_metric_on_clean_fids_path(same_size_folders, inception_weights,
                                                          torch_reference, tmp_path, capsys,
                                                          monkeypatch):
  """A's features file (clean-fid's input path) as A; the metrics get A's saved and B's
  features in that order (the metrics themselves are tested against their references in
  test_prdc.py, test_kid.py and test_scores.py)."""
  files_a, files_b = same_size_folders
  a, b = os.path.dirname(files_a[0]), os.path.dirname(files_b[0])
  saved = str(tmp_path / "a_features.npz")
  common = ["--inception_weights", inception_weights, "--resize", "clean"]
  value, out = _fid([a, *common, "--save_features", saved], capsys)
  assert value is None and f"Saved the features of {a} to {saved}" in out
  space = FeatureSpace("inception", weights_sha256(inception_weights), "clean")
  reference = load_features(saved, space)
  np.testing.assert_allclose(reference.features, _clean_fid_features(files_a, torch_reference),
                             rtol=1e-4, atol=1e-5)
  assert reference.provenance["source"] == {"folder": os.path.abspath(a)}

  given = {}
  prdc = {"precision": 0.5, "recall": 0.25, "density": 1.5, "coverage": 0.75}
  for name, result in (("frechet_distance", 12.5), ("inception_score", (3.0, 0.5)),
                       ("precision_recall_density_coverage", prdc),
                       ("kernel_inception_distance", 0.125)):
    monkeypatch.setattr(fid, name, _recorder(given, name, result))
  value, out = _fid([saved, b, *common, "--metrics", "fid,is,prdc,kid", "--nearest_k", "3",
                     "--is_splits", "1"], capsys)
  assert value == 12.5 and "KID: 0.125" in out
  assert f"IS of {b}: 3.0 +- 0.5 (splits=1)" in out and f"IS of {saved}" not in out
  assert all(f"{name} (k=3): {result}" in out for name, result in prdc.items()), out
  features_b = _clean_fid_features(files_b, torch_reference)
  real, fake, k = given["precision_recall_density_coverage"]
  assert k == 3
  np.testing.assert_array_equal(real, reference.features)
  np.testing.assert_allclose(fake, features_b, rtol=1e-4, atol=1e-5)
  for got, want in zip(given["kernel_inception_distance"], (real, fake)):
    np.testing.assert_array_equal(got, want)
  mu_a, _, mu_b, _ = given["frechet_distance"]
  np.testing.assert_array_equal(mu_a, reference.statistics.mu)
  np.testing.assert_allclose(mu_b, features_b.mean(0), rtol=1e-4, atol=1e-5)
  logits, splits = given["inception_score"]
  assert logits.shape == (7, 1008) and splits == 1


@pytest.mark.parametrize("case, message", [
    ("other_resize", r"holds features of network 'inception' \(weights sha256 \w{12}\.\.\.\), "
                     r"resize 'clean'; this evaluation uses network 'inception' .*resize 'legacy'"),
    ("stats_only", r"--metrics prdc compares individual features, and .*stats\.npz holds only "
                   r"mu and sigma: give the image folder, or a features file"),
    ("is_without_images", r"--metrics is needs the logits of images"),
])
def test_a_file_that_cannot_give_the_metrics_is_one_message(case, message, same_size_folders,
                                                           inception_weights, tmp_path):
  """Refused before any image is read (the features file is written here, not measured)."""
  b = os.path.dirname(same_size_folders[1][0])
  space = FeatureSpace("inception", weights_sha256(inception_weights), "clean")
  features = str(tmp_path / "features.npz")
  save_features(features, np.random.default_rng().normal(size=(7, 2048)), space, {})
  stats = str(tmp_path / "stats.npz")
  save_statistics(stats, Statistics(np.zeros(2048), np.eye(2048)))
  args = {"other_resize": [features, b, "--metrics", "kid", "--resize", "legacy"],
          "stats_only": [features, stats, "--metrics", "fid,prdc", "--resize", "clean"],
          "is_without_images": [features, stats, "--metrics", "is", "--resize", "clean"]}[case]
  with pytest.raises(SystemExit) as exit_info:
    fid.main([*args, "--inception_weights", inception_weights, "--inception_size", str(SIZE)])
  assert str(exit_info.value.code).startswith("an_flax.metrics.fid: ")
  assert re.search(message, str(exit_info.value.code)), exit_info.value.code


@pytest.mark.parametrize("args, message", [
    (["a", "--metrics", "fid,sharpness"], r"unknown metric\(s\) \['sharpness'\]"),
    (["a", "--metrics", "prdc"], r"--metrics prdc compare\(s\) B with A: give two paths"),
    (["a"], r"give two paths A B, or one folder A with --save_stats, --save_features"),
    (["a.npz", "b", "--save_features", "f.npz"], r"--save_features writes what is measured in "
                                                 r"a folder; a\.npz is not one"),
])
def test_a_bad_combination_of_arguments_is_a_usage_error(args, message, capsys):
  with pytest.raises(SystemExit) as exit_info:
    fid.main([*args, "--inception_weights", "w.npz"])
  assert exit_info.value.code == 2
  assert re.search(message, capsys.readouterr().err)


def test_fd_dinov2_of_two_folders_is_dgm_evals(tiny_dinov2, tmp_path, capsys, monkeypatch):
  """--metrics fd_dinov2 with a tiny ViT (the full one takes ~50 s a batch here) against
  dgm-eval's path in torch (PIL, its transform, the transcribed network, its FD formula).
  40 images a side: more than the 32 feature dimensions, so neither covariance is singular.
  Tolerance 1e-4 relative (features agree within 1e-4 absolute, test_dinov2.py)."""
  rng = np.random.default_rng()
  names = [f"{i}.png" for i in range(40)]
  a, b = str(tmp_path / "a"), str(tmp_path / "b")
  _write(a, names, rng, [(32, 32)] * 40)
  _write(b, names, rng, [(40, 40)] * 40)
  monkeypatch.setitem(fid.NETWORKS, networks.DINOV2, lambda args: networks.dinov2(
      args.dinov2_weights, config=tiny_dinov2.config, image_size=tiny_dinov2.image_size))
  fid.main([a, b, "--metrics", "fd_dinov2", "--dinov2_weights", tiny_dinov2.weights,
            "--batch_size", "16"])
  out = capsys.readouterr().out
  value = float(re.search(r"^FD_DINOv2: (\S+)$", out, re.M).group(1))
  features = [dinov2.dgm_eval_features(
      tiny_dinov2.torch_model, np.stack([np.asarray(Image.open(os.path.join(folder, n))
                                                     .convert("RGB")) for n in names]),
      tiny_dinov2.image_size).astype(np.float64) for folder in (a, b)]
  expected = dinov2.dgm_eval_fd(*features)
  assert expected > 0.1 and "FID" not in out
  np.testing.assert_allclose(value, expected, rtol=1e-4)


def test_fd_dinov2_without_its_weights_is_one_message(same_size_folders):
  a, b = (os.path.dirname(files[0]) for files in same_size_folders)
  with pytest.raises(SystemExit) as exit_info:
    fid.main([a, b, "--metrics", "fd_dinov2"])
  message = str(exit_info.value.code)
  assert message.startswith("an_flax.metrics.fid: ") and "--dinov2_weights unset" in message
  assert "python -m an_flax.metrics.convert_dinov2_weights" in message
