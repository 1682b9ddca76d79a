"""`python -m an_flax.metrics.fid A B`: folders (flat or per class) and statistics files,
against pytorch-fid's path written out in torch (PIL, ToTensor, bilinear resize, the
transcribed FID Inception with the same random weights)."""

import os
import re

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from an_flax.metrics import fid, load_statistics

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
