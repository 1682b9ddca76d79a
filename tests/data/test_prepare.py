"""`python -m an_flax.data.prepare`: the records are `pil_square_image` of the sources, with
their labels and names; resuming, several hosts, refusals and unreadable files."""

from __future__ import annotations

import hashlib
import io
import os
import pathlib
import subprocess
import sys
import tarfile

import ml_collections
import numpy as np
import pytest
from PIL import Image

from an_flax.data import image_sources, pil_preprocess, prepare, records
from benchmarks import ilsvrc_tars

REPO = pathlib.Path(__file__).parents[2]
LABELS = (0, 1, 999)
SIZE = 16


def _photo(rng: np.random.Generator, height: int, width: int, mode: str = 'RGB') -> Image.Image:
  pixels = rng.integers(0, 256, (height // 4 + 1, width // 4 + 1, 3), dtype=np.uint8)
  return Image.fromarray(pixels).resize((width, height), Image.BICUBIC).convert(mode)


def _encode(image: Image.Image, image_format: str = 'JPEG') -> bytes:
  buffer = io.BytesIO()
  image.save(buffer, format=image_format, quality=90)
  return buffer.getvalue()


def _synset_files(rng: np.random.Generator, label: int) -> list[bytes]:
  """Sides differing by odd and even amounts, smaller and larger than SIZE; grayscale and
  CMYK JPEGs and a PNG named .JPEG, as ImageNet has."""
  shapes = [(31, 50), (50, 31), (40, 40), (9, 14), (120, 77)]
  files = [_encode(_photo(rng, h, w)) for h, w in shapes]
  if label == 0:
    files += [_encode(_photo(rng, 30, 45, 'L')), _encode(_photo(rng, 45, 30, 'CMYK')),
              _encode(_photo(rng, 33, 20), 'PNG')]
  return files


@pytest.fixture(scope='module')
def tars(tmp_path_factory) -> pathlib.Path:
  """ILSVRC2012 train and validation tars; returns their directory."""
  manual = tmp_path_factory.mktemp('manual')
  rng = np.random.default_rng(0)
  ilsvrc_tars.write_train_tar(manual, {label: _synset_files(rng, label) for label in LABELS})
  ilsvrc_tars.write_validation_tar(manual, [_encode(_photo(rng, 30 + k, 41)) for k in range(5)])
  return manual


def _dataset(tmp_path: pathlib.Path, manual: pathlib.Path, **fields) -> ml_collections.ConfigDict:
  return ml_collections.ConfigDict({
      'name': 'imagenet2012', 'data_dir': str(tmp_path / 'tfds'), 'manual_dir': str(manual),
      'image_size': SIZE, 'resizer': 'bilinear', 'split': 'train',
      'prepared': '{data_dir}/prepared/{name}_{image_size}_{resizer}', **fields})


def _tar_sources(manual: pathlib.Path) -> dict[str, dict[str, tuple[bytes, int]]]:
  """split -> file name -> (bytes, label), read with tarfile and the TFDS label lists."""
  synsets = ilsvrc_tars.imagenet_synsets()
  train = {}
  with tarfile.open(manual / 'ILSVRC2012_img_train.tar') as outer:
    for member in outer:
      with tarfile.open(fileobj=outer.extractfile(member)) as inner:
        for image in inner:
          train[image.name] = (inner.extractfile(image).read(),
                               synsets.index(member.name.removesuffix('.tar')))
  with tarfile.open(manual / 'ILSVRC2012_img_val.tar') as tar:
    names = sorted(tar.getnames())
    val_synsets = ilsvrc_tars.imagenet_validation_synsets()
    validation = {name: (tar.extractfile(name).read(), synsets.index(val_synsets[k]))
                  for k, name in enumerate(names)}
  return {'train': train, 'validation': validation}


def _read(directory: str) -> list[tuple[bytes, int, str]]:
  split = records.open_split(directory, '')
  return [(image.tobytes(), label, name) for image, label, name in records.iterate(split)]


def _shard_files(directory: str) -> dict[str, bytes]:
  return {name: (pathlib.Path(directory) / name).read_bytes()
          for name in sorted(os.listdir(directory)) if name.startswith('shard-')}


@pytest.fixture(scope='module')
def prepared_once(tars, tmp_path_factory) -> ml_collections.ConfigDict:
  """Both splits prepared by one host in one process."""
  dataset = _dataset(tmp_path_factory.mktemp('once'), tars)
  for split in ('train', 'validation'):
    assert prepare.prepare_split(dataset, split, num_workers=1) is not None
  return dataset


@pytest.mark.parametrize('split', ['train', 'validation'])
def test_records_are_pil_square_images_of_the_tars(prepared_once, tars, split):
  directory = prepare.split_directory(prepared_once, split)
  sources = _tar_sources(tars)[split]
  read = _read(directory)
  assert sorted(name for _, _, name in read) == sorted(sources)
  for image, label, name in read:
    encoded, expected_label = sources[name]
    assert label == expected_label, name
    assert image == pil_preprocess.pil_square_image(encoded, SIZE, 'bilinear').tobytes(), name
  manifest = records.read_json(os.path.join(directory, records.MANIFEST))
  assert manifest['count'] == len(sources) and manifest['num_classes'] == 1000
  assert (manifest['image_size'], manifest['resizer']) == (SIZE, 'bilinear')
  assert manifest['crop'] == pil_preprocess.CROP_RULE and manifest['skipped'] == []
  assert set(manifest['versions']) == {'pillow', 'numpy', 'array_record'}
  for shard in manifest['shards']:
    data = (pathlib.Path(directory) / shard['file']).read_bytes()
    assert shard['sha256'] == hashlib.sha256(data).hexdigest()
  assert sum(shard['count'] for shard in manifest['shards']) == len(sources)
  if split == 'train':  # One shard per synset.
    assert [shard['count'] for shard in manifest['shards']] == [8, 5, 5]


def test_image_folder_records_are_pil_square_images(image_folder, tmp_path):
  dataset = ml_collections.ConfigDict({
      'name': 'image_folder', 'data_dir': str(image_folder.root), 'manual_dir': None,
      'image_size': SIZE, 'resizer': 'lanczos', 'prepared': str(tmp_path / 'prepared')})
  manifest = prepare.prepare_split(dataset, 'train', num_workers=1, images_per_shard=8)
  assert manifest['num_shards'] == 3 and manifest['num_classes'] == len(image_folder.colors)
  read = _read(str(tmp_path / 'prepared' / 'train'))
  assert len(read) == image_folder.size
  classes = sorted(image_folder.colors)
  for image, label, name in read:
    assert name.split('/')[0] == classes[label]
    encoded = (image_folder.root / 'train' / name).read_bytes()
    assert image == pil_preprocess.pil_square_image(encoded, SIZE, 'lanczos').tobytes(), name


class _Killed(BaseException):
  """Stands for SIGKILL: nothing after it runs in the writing process."""


def test_a_killed_run_resumes_to_the_same_output(prepared_once, tars, tmp_path, monkeypatch):
  dataset = _dataset(tmp_path, tars)
  directory = prepare.split_directory(dataset, 'train')
  read = image_sources.SynsetTarShard.read

  def killed_in_second_shard(shard):
    for k, example in enumerate(read(shard)):
      if shard.index == 1 and k == 2:
        raise _Killed
      yield example

  monkeypatch.setattr(image_sources.SynsetTarShard, 'read', killed_in_second_shard)
  with pytest.raises(_Killed):
    prepare.prepare_split(dataset, 'train', num_workers=1)
  first = os.stat(os.path.join(directory, 'shard-00000-of-00003.array_record'))
  assert not os.path.exists(os.path.join(directory, records.MANIFEST))
  assert not os.path.exists(os.path.join(directory, 'shard-00001-of-00003.json'))
  # What a SIGKILL leaves: a partial shard under its temporary name.
  partial = os.path.join(directory, 'shard-00001-of-00003.array_record.tmp-host-1')
  pathlib.Path(partial).write_bytes(b'partial')
  monkeypatch.setattr(image_sources.SynsetTarShard, 'read', read)
  assert prepare.prepare_split(dataset, 'train', num_workers=1) is not None
  kept = os.stat(os.path.join(directory, 'shard-00000-of-00003.array_record'))
  assert kept.st_ino == first.st_ino  # The finished shard was not written again.
  assert not os.path.exists(partial)
  assert _shard_files(directory) == _shard_files(prepare.split_directory(prepared_once, 'train'))


def test_two_hosts_write_what_one_writes(prepared_once, tars, tmp_path):
  dataset = _dataset(tmp_path, tars)
  directory = prepare.split_directory(dataset, 'train')
  assert prepare.prepare_split(dataset, 'train', num_workers=1, process_index=1,
                               process_count=2) is None  # Host 0's shards are missing.
  assert sorted(os.listdir(directory)) == ['settings.json', 'shard-00001-of-00003.array_record',
                                           'shard-00001-of-00003.json']
  manifest = prepare.prepare_split(dataset, 'train', num_workers=1, process_index=0,
                                   process_count=2)
  assert manifest is not None  # The last host completes the manifest.
  assert _shard_files(directory) == _shard_files(prepare.split_directory(prepared_once, 'train'))
  with pytest.raises(ValueError, match='process_id=2'):
    prepare.prepare_split(dataset, 'train', num_workers=1, process_index=2, process_count=2)


def test_another_resizer_or_size_is_refused(tars, tmp_path):
  dataset = _dataset(tmp_path, tars, prepared=str(tmp_path / 'fixed'))
  prepare.prepare_split(dataset, 'validation', num_workers=1)
  for field, value, old in (('resizer', 'lanczos', "'bilinear'"), ('image_size', 32, '16')):
    other = _dataset(tmp_path, tars, prepared=str(tmp_path / 'fixed'), **{field: value})
    with pytest.raises(ValueError) as error:
      prepare.prepare_split(other, 'validation', num_workers=1)
    assert f'{field} {old} there, {value!r} asked for' in str(error.value)


def test_an_unreadable_file_is_named_or_skipped(tmp_path):
  manual = tmp_path / 'manual'
  manual.mkdir()
  rng = np.random.default_rng(1)
  good = [_encode(_photo(rng, 20, 30)) for _ in range(3)]
  ilsvrc_tars.write_train_tar(manual, {5: [good[0], b'\xff\xd8 not a JPEG', *good[1:]]})
  synset = ilsvrc_tars.imagenet_synsets()[5]
  dataset = _dataset(tmp_path, manual)
  with pytest.raises(prepare.UnreadableImageError) as error:
    prepare.prepare_split(dataset, 'train', num_workers=1)
  assert (f'ILSVRC2012_img_train.tar/{synset}.tar/{synset}_1.JPEG: PIL cannot read it (no '
          'image format PIL knows)') in str(error.value)
  assert '--skip_unreadable' in str(error.value)
  manifest = prepare.prepare_split(dataset, 'train', num_workers=1, skip_unreadable=True)
  assert manifest['count'] == 3 and len(manifest['skipped']) == 1
  assert f'{synset}.tar/{synset}_1.JPEG: ' in manifest['skipped'][0]


def _command_line(tmp_path: pathlib.Path, *flags: str) -> subprocess.CompletedProcess:
  return subprocess.run(
      [sys.executable, '-m', 'an_flax.data.prepare', '--config=configs/imagenet128_sngan.py',
       f'--config.dataset.data_dir={tmp_path / "tfds"}', f'--config.dataset.image_size={SIZE}',
       *flags], cwd=REPO, capture_output=True, text=True, timeout=300,
      env={**os.environ, 'JAX_PLATFORMS': 'cpu'})


def test_command_line_with_worker_processes_writes_the_same(prepared_once, tars, tmp_path):
  result = _command_line(tmp_path, f'--config.dataset.manual_dir={tars}', '--num_workers=2',
                         '--split=train,validation')
  assert result.returncode == 0, result.stderr[-3000:]
  for split, count, shards in (('train', 18, 3), ('validation', 5, 1)):
    directory = tmp_path / 'tfds' / 'an_flax_prepared' / f'imagenet2012_{SIZE}_bilinear' / split
    assert f'{directory}: {count} images in {shards} shards.' in result.stdout
    assert _shard_files(str(directory)) == _shard_files(
        prepare.split_directory(prepared_once, split))


def test_command_line_names_a_missing_tar_in_one_line(tmp_path):
  result = _command_line(tmp_path, f'--config.dataset.manual_dir={tmp_path}')
  assert result.returncode == 1
  errors = [line for line in result.stderr.splitlines() if ': error: ' in line]
  assert len(errors) == 1 and f'{tmp_path / "ILSVRC2012_img_train.tar"}: not found' in errors[0]
  assert 'Traceback' not in result.stderr
