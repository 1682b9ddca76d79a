"""Images/s of our ImageNet input pipelines against PIL + a torch DataLoader, per core, and
of preparing the data once against StudioGAN's `make_hdf5`.

  python -m benchmarks.input_pipeline [--images 640] [--batch_size 64] [--rounds 5]
      [--small] [--output PATH]

The data: `--images` JPEGs of ImageNet's usual sizes (500x375, 375x500, 500x333, 500x500,
333x500, and one in twenty 1000x800; width x height) at quality 90, with texture and
noise so that they weigh what ImageNet's photos do (about 100 KB at 500x375), written as
ILSVRC2012 tars (`benchmarks/ilsvrc_tars.py`). Each side then prepares them once, untimed,
as it is run on ImageNet: TFDS's imagenet2012 builder writes its TFRecords for ours; the
train tar is unpacked into <synset>/<file> folders for PyTorch's ImageFolder-style
dataset. Both read the same JPEG bytes (checked before timing).

What is timed, first: preparing once, in rounds taking turns, start-up included.
  ours: `python -m an_flax.data.prepare --config configs/imagenet128_sngan.py` (a worker
    process per core, bilinear) from the tars to ArrayRecord shards of `pil_square_image`
    records, the command's start-up included.
  StudioGAN: `make_hdf5` (benchmarks/pytorch/make_hdf5.py), its DataLoader (a worker
    process per core) over the PyTorch transform below, from the unpacked files to HDF5.
Then the steady-state training iteration over the prepared data, batches of uint8 128x128
centre crops with labels.
  ours, prepared: `input_pipeline.create_train_iterator` with `config.dataset.prepared`:
    grain reading the ArrayRecord records in a global shuffle (random reads, no decoding),
    batched, on its reading threads.
  ours, on the fly: `input_pipeline.create_train_iterator` over TFDS's records (shuffled,
    decoded, the centre square cut out, antialiased bilinear resize, uint8, batched,
    prefetched), on tf.data's thread pool (a thread per core by default).
  PyTorch: what BigGAN-PyTorch and StudioGAN (src/data_util.py, src/utils/hdf5.py) do:
    torchvision's ImageFolder PIL loader (the full JPEG decoded, `convert('RGB')`),
    `CenterCropLongEdge` (the largest centred square), `Resize(128)` (PIL bilinear, which
    antialiases), `PILToTensor` (uint8), collated by a DataLoader with one worker process
    per core, reshuffled every epoch (BigGAN's MultiEpochSampler), drop_last. This
    is StudioGAN's HDF5-making loader (normalize=False) and, but for ToTensor + Normalize
    to float, the ImageFolder training loader of both; BigGAN's ImageNet runs use this
    work once to make their HDF5 file.
The two take turns in rounds, after an uncounted start-up round, and neither works in
the other's turn (see `run`); a turn times `timed` batches after `warm` untimed ones, and
images/s is the median over the rounds.
"""

from __future__ import annotations

import argparse
import itertools
import os
import pathlib
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator

import ml_collections
import numpy as np
import tensorflow_datasets as tfds
import torch
from PIL import Image

from an_flax.data import input_pipeline, prepared, records, sources
from benchmarks import ilsvrc_tars, report
from benchmarks.pytorch import make_hdf5

IMAGE_SIZE = 128
JPEG_QUALITY = 90
# (width, height) of the generated photos, in these proportions (ImageNet's common sizes).
PHOTO_SIZES = ((500, 375),) * 10 + ((375, 500),) * 4 + ((500, 333),) * 3 + (
    (500, 500), (333, 500), (1000, 800))
OURS = "ours: TFDS records, tf.data"
PREPARED = "ours: prepared records, grain"
PYTORCH = "PIL + torch DataLoader (BigGAN / StudioGAN)"
PREPARE_OURS = "ours: an_flax.data.prepare, tars -> ArrayRecord"
PREPARE_STUDIOGAN = "StudioGAN make_hdf5, files -> HDF5"
CORES = len(os.sched_getaffinity(0))
REPO = pathlib.Path(__file__).parents[1]
CONFIG = REPO / "configs" / "imagenet128_sngan.py"  # 128x128, bilinear


def photo(width: int, height: int, rng: np.random.Generator) -> np.ndarray:
  """Smooth random colour regions with sensor-like noise: a JPEG's size and decode cost
  of a photo, unlike flat colours or white noise."""
  cells = rng.integers(0, 256, (height // 16, width // 16, 3), dtype=np.uint8)
  base = np.asarray(Image.fromarray(cells).resize((width, height), Image.BICUBIC), np.float32)
  return np.clip(base + rng.normal(0.0, 16.0, base.shape), 0, 255).astype(np.uint8)


def imagenet_like_jpegs(count: int, classes: int, seed: int = 0) -> dict[int, list[bytes]]:
  """`count` JPEGs in the sizes of `PHOTO_SIZES`, dealt to `classes` labels spread over 1000."""
  rng = np.random.default_rng(seed)
  labels = [k * (1000 // classes) for k in range(classes)]
  jpegs: dict[int, list[bytes]] = {label: [] for label in labels}
  for k, (width, height) in zip(range(count), itertools.cycle(PHOTO_SIZES)):
    jpegs[labels[k % classes]].append(
        ilsvrc_tars.encode_jpeg(photo(width, height, rng), JPEG_QUALITY))
  return jpegs


def write_data(root: pathlib.Path, count: int, classes: int) -> pathlib.Path:
  """Writes the tars under <root>/manual and unpacks the train tar; returns that folder."""
  manual = root / "manual"
  manual.mkdir()
  jpegs = imagenet_like_jpegs(count, classes)
  train_tar = ilsvrc_tars.write_train_tar(manual, jpegs)
  ilsvrc_tars.write_validation_tar(manual, jpegs[0][:2])  # TFDS's builder needs one.
  folder = root / "train"
  ilsvrc_tars.extract_train_tar(train_tar, folder)
  return folder


def prepared_config(root: pathlib.Path, batch_size: int) -> ml_collections.ConfigDict:
  """Our config of imagenet2012 from the tars under <root>/manual, whose TFRecords TFDS's
  builder has written into <root>/tfds."""
  config = ml_collections.ConfigDict({"seed": 0, "batch_size": batch_size, "dataset": {
      "name": "imagenet2012", "image_size": IMAGE_SIZE, "data_dir": str(root / "tfds"),
      "manual_dir": str(root / "manual"), "cache": False}})
  input_pipeline.prepare(config)
  return config


def preparing_rates(root: pathlib.Path, folder: pathlib.Path, count: int,
                    rounds: int) -> dict[str, list[float]]:
  """Images/s of preparing the data once, each side in turn, `rounds` times."""
  rates: dict[str, list[float]] = {PREPARE_OURS: [], PREPARE_STUDIOGAN: []}
  for turn in range(rounds):
    start = time.perf_counter()
    written = make_hdf5.make_hdf5(CenterCropFolder(folder, IMAGE_SIZE),
                                  str(root / f"studiogan_{turn}.hdf5"), IMAGE_SIZE, CORES)
    rates[PREPARE_STUDIOGAN].append(written / (time.perf_counter() - start))
    directory = root / f"prepared_{turn}"
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "an_flax.data.prepare", f"--config={CONFIG}",
                    f"--config.dataset.manual_dir={root / 'manual'}",
                    f"--config.dataset.prepared={directory}", "--split=train",
                    f"--num_workers={CORES}"], check=True, capture_output=True, cwd=REPO)
    rates[PREPARE_OURS].append(count / (time.perf_counter() - start))
    ours = records.read_json(str(directory / "train" / records.MANIFEST))["count"]
    if written != count or ours != count:
      raise AssertionError(f"Prepared {written} and {ours} of {count} images.")
    print(f"preparing, round {turn}: StudioGAN {rates[PREPARE_STUDIOGAN][-1]:.0f}, ours "
          f"{rates[PREPARE_OURS][-1]:.0f} images/s", flush=True)
  return rates


def check_same_jpegs(config: ml_collections.ConfigDict, folder: pathlib.Path) -> int:
  """Fails unless our records and the unpacked files hold the same JPEG bytes; their count."""
  builder = sources.get_builder(sources.DataConfig.from_config(config))
  records, _ = sources.read_process_slice(builder, "train", 0, 1)
  ours = sorted(example["image"] for example in records.as_numpy_iterator())
  files = sorted(path.read_bytes() for path in folder.glob("*/*.JPEG"))
  if ours != files:
    raise AssertionError("The TFDS records and the unpacked JPEGs differ.")
  return len(files)


def pil_loader(path: str) -> Image.Image:
  """torchvision.datasets.folder.pil_loader: the whole image decoded."""
  with open(path, "rb") as f:
    image = Image.open(f)
    return image.convert("RGB")


def center_crop_long_edge(image: Image.Image) -> Image.Image:
  """BigGAN's CenterCropLongEdge: torchvision's `center_crop(img, min(img.size))`."""
  width, height = image.size
  side = min(width, height)
  top, left = int(round((height - side) / 2.0)), int(round((width - side) / 2.0))
  return image.crop((left, top, left + side, top + side))


def resize(image: Image.Image, size: int) -> Image.Image:
  """torchvision's `Resize(size)` (bilinear) of a square PIL image: PIL's bilinear filter,
  widened when downscaling (antialiased); the image itself when it already has that size."""
  if image.size == (size, size):
    return image
  return image.resize((size, size), Image.BILINEAR)


def pil_to_tensor(image: Image.Image) -> torch.Tensor:
  """torchvision's `PILToTensor`: uint8 (C, H, W)."""
  pixels = torch.as_tensor(np.array(image, copy=True))
  return pixels.view(image.size[1], image.size[0], len(image.getbands())).permute(2, 0, 1)


class CenterCropFolder(torch.utils.data.Dataset):
  """torchvision's ImageFolder over <root>/<class>/<file> with StudioGAN's transforms
  (`CenterCropLongEdge`, `Resize(size)`, `PILToTensor`)."""

  def __init__(self, root: pathlib.Path, size: int):
    classes = sorted(entry.name for entry in os.scandir(root) if entry.is_dir())
    self.samples = [(os.path.join(root, name, file), label)
                    for label, name in enumerate(classes)
                    for file in sorted(os.listdir(os.path.join(root, name)))]
    self.size = size

  def __len__(self) -> int:
    return len(self.samples)

  def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
    path, label = self.samples[index]
    return pil_to_tensor(resize(center_crop_long_edge(pil_loader(path)), self.size)), label


def pytorch_batches(folder: pathlib.Path, batch_size: int,
                    workers: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
  """StudioGAN's training DataLoader (its workers, drop_last; its pin_memory does nothing
  without a GPU) with BigGAN's multi-epoch sampling: a million reshuffled epochs in one
  iterator, so that no epoch boundary restarts the workers."""
  dataset = CenterCropFolder(folder, IMAGE_SIZE)
  sampler = torch.utils.data.RandomSampler(dataset, num_samples=len(dataset) * 10**6)
  return iter(torch.utils.data.DataLoader(dataset, batch_size=batch_size, sampler=sampler,
                                          num_workers=workers, drop_last=True))


def steady_images_per_s(batches: Iterator, batch_size: int, warm: int, timed: int) -> float:
  """Images/s of `timed` batches after `warm` untimed ones (start-up, buffers emptied)."""
  for _ in range(warm):
    next(batches)
  start = time.perf_counter()
  for _ in range(timed):
    next(batches)
  return timed * batch_size / (time.perf_counter() - start)


def _row(name: str, workers: str, rate: float, reference: float) -> str:
  return (f"| {name} | {workers} | {rate:.0f} | {rate / CORES:.1f} | "
          f"{rate / reference:.2f}x |")


def run(images: int = 640, batch_size: int = 64, rounds: int = 5, classes: int = 10,
        warm: int | None = None, timed: int | None = None) -> str:
  """The tables; preparing takes turns first, then a round times PyTorch's DataLoader, our
  on-the-fly pipeline, then our prepared one.

  Neither side may work during another's turn. The DataLoader keeps its workers (two
  batches prefetched a worker, default `warm` 2 a core + 2 empties them) and rests after
  its turn until they have refilled. Ours get a fresh iterator every turn, deleted
  after it: tf.data's autotuned buffers (and grain's prefetch) would otherwise grow, fill
  while PyTorch runs and hand the next turn a head start. Default `timed`: 4 batches a
  core, so that the workers' whole batches average out.
  """
  warm = 2 * CORES + 2 if warm is None else warm
  timed = 4 * CORES if timed is None else timed
  with tempfile.TemporaryDirectory(prefix="input_pipeline_") as tmp:
    root = pathlib.Path(tmp)
    folder = write_data(root, images, classes)
    count = len(list(folder.glob("*/*.JPEG")))
    # Forking DataLoaders first, before JAX and tf.data start threads.
    preparing = preparing_rates(root, folder, count, rounds)
    theirs = pytorch_batches(folder, batch_size, CORES)
    config = prepared_config(root, batch_size)
    check_same_jpegs(config, folder)
    records_config = ml_collections.ConfigDict(config.to_dict())
    records_config.dataset.update(resizer="bilinear", prepared=str(root / "prepared_0"))
    megabytes = sum(path.stat().st_size for path in folder.glob("*/*.JPEG")) / 1e6
    rates: dict[str, list[float]] = {OURS: [], PREPARED: [], PYTORCH: []}
    for turn in range(rounds + 1):  # The first round, start-up included, is not counted.
      rate = steady_images_per_s(theirs, batch_size, warm, timed)
      time.sleep(3 * CORES * batch_size / rate)  # 1.5 times its workers' refill
      rates[PYTORCH].append(rate)
      for name, ours_config in ((OURS, config), (PREPARED, records_config)):
        rates[name].append(steady_images_per_s(
            input_pipeline.create_train_iterator(ours_config), batch_size, warm, timed))
      print(f"round {turn}{'' if turn else ' (start-up, not counted)'}: "
            f"PyTorch {rates[PYTORCH][-1]:.0f}, ours {rates[OURS][-1]:.0f}, prepared "
            f"{rates[PREPARED][-1]:.0f} images/s", flush=True)
    del theirs  # Its workers stop before their files are deleted.
  ours, on_records, pytorch = (statistics.median(rates[name][1:])
                             for name in (OURS, PREPARED, PYTORCH))
  ours_prepare, studiogan = (statistics.median(preparing[name])
                             for name in (PREPARE_OURS, PREPARE_STUDIOGAN))
  return "\n".join([
      f"{count} JPEGs of ImageNet's sizes ({megabytes / count * 1000:.0f} KB on average, "
      f"quality {JPEG_QUALITY}) to uint8 {IMAGE_SIZE}x{IMAGE_SIZE} centre crops, batch "
      f"{batch_size}, on {CORES} cores. Steady-state iteration over the prepared data "
      f"(ours: TFDS's TFRecords, or our prepared ArrayRecord records; PyTorch: the unpacked "
      f"JPEG files); medians of {rounds} rounds of {timed} batches a side, taking turns.",
      "",
      "| pipeline | workers | images/s | images/s per core | ours / PyTorch |",
      "|---|---|---|---|---|",
      _row(PREPARED, f"{prepared.READ_THREADS} threads", on_records, pytorch),
      _row(OURS, f"{CORES} threads", ours, pytorch),
      _row(PYTORCH, f"{CORES} processes", pytorch, pytorch),
      "",
      f"Preparing the {count} images once (start-up included), bilinear; medians of "
      f"{rounds} rounds a side, taking turns.",
      "",
      "| preparing | workers | images/s | images/s per core | ours / StudioGAN |",
      "|---|---|---|---|---|",
      _row(PREPARE_OURS, f"{CORES} processes", ours_prepare, studiogan),
      _row(PREPARE_STUDIOGAN, f"{CORES} processes", studiogan, studiogan)])


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--images", type=int, default=640)
  parser.add_argument("--batch_size", type=int, default=64)
  parser.add_argument("--rounds", type=int, default=5)
  parser.add_argument("--small", action="store_true",
                      help="a few seconds' check: 64 images, batch 8; writes no results file")
  parser.add_argument("--output", default=None,
                      help="markdown file (default: benchmarks/results/input_pipeline_cpu.md)")
  args = parser.parse_args()
  tfds.display_progress_bar(False)
  if args.small:
    table = run(images=64, batch_size=8, rounds=2, classes=2)
  else:
    table = run(args.images, args.batch_size, args.rounds)
  output = args.output or (None if args.small else
                           os.path.join(report.RESULTS_DIR, "input_pipeline_cpu.md"))
  command = ("python -m benchmarks.input_pipeline "
             + ("--small" if args.small else
                f"--images {args.images} --batch_size {args.batch_size} --rounds {args.rounds}"))
  if output:
    report.write(output, "ImageNet input pipeline: ours against PIL + torch DataLoader",
                 command, table)
  else:
    print("\n" + table)


if __name__ == "__main__":
  main()
