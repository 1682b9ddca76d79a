"""Metric writers of a run: the console, and TensorBoard event files in the workdir.

A local workdir gets clu's default writer. A workdir in an object store (`gs://...`) gets
`EventFileWriter`, which writes the same event files through `etils.epath`: epath reaches
Cloud Storage through TensorFlow's file system, or through fsspec with `EPATH_USE_TF=false`
(what a storage emulator needs), so the same code serves a TPU VM and the tests. Objects
cannot be appended to, so each flush (clu flushes at every log) closes the event file being
written and the next event starts a new one; TensorBoard reads every event file of a folder,
in order. Written by hand (about forty lines on TensorBoard's own record format and protos)
because no library writes event files through fsspec while TensorFlow is installed:
TensorBoard's and clu's writers then go through TensorFlow's file system.
"""

import io
import socket
import time
from typing import Any, Mapping, Optional

import numpy as np
from clu import metric_writers
from etils import epath
from PIL import Image
from tensorboard.compat.proto import event_pb2, summary_pb2
from tensorboard.summary.writer.record_writer import RecordWriter

from an_flax.runtime import workdir as workdir_lib


def create_writer(workdir: str, just_logging: bool) -> metric_writers.MetricWriter:
  """The console (every process) and, unless `just_logging`, event files in `workdir`."""
  if just_logging or not workdir_lib.is_remote(workdir):
    return metric_writers.create_default_writer(workdir, just_logging=just_logging)
  return metric_writers.AsyncMultiWriter([metric_writers.LoggingWriter(),
                                          EventFileWriter(workdir)])


class EventFileWriter(metric_writers.MetricWriter):
  """Scalars and images as TensorBoard event files under `logdir`, through epath."""

  def __init__(self, logdir: str):
    self._logdir = epath.Path(logdir)
    self._file: Optional[Any] = None
    self._records: Optional[RecordWriter] = None
    self._count = 0

  def _write(self, step: int, values: list) -> None:
    if self._records is None:
      self._count += 1
      name = (f"events.out.tfevents.{time.time():.6f}.{socket.gethostname()}."
              f"{self._count:06d}")
      self._file = (self._logdir / name).open("wb")
      self._records = RecordWriter(self._file)
      self._records.write(event_pb2.Event(wall_time=time.time(),
                                          file_version="brain.Event:2").SerializeToString())
    event = event_pb2.Event(wall_time=time.time(), step=step,
                            summary=summary_pb2.Summary(value=values))
    self._records.write(event.SerializeToString())

  def write_scalars(self, step: int, scalars: Mapping[str, Any]) -> None:
    self._write(step, [summary_pb2.Summary.Value(tag=tag, simple_value=float(value))
                       for tag, value in scalars.items()])

  def write_images(self, step: int, images: Mapping[str, Any]) -> None:
    """Each value is (N, H, W, C) uint8: its first image, as a PNG."""
    values = []
    for tag, batch in images.items():
      image = np.asarray(batch)[0]
      png = io.BytesIO()
      Image.fromarray(image).save(png, format="PNG")
      values.append(summary_pb2.Summary.Value(tag=tag, image=summary_pb2.Summary.Image(
          height=image.shape[0], width=image.shape[1], colorspace=image.shape[2],
          encoded_image_string=png.getvalue())))
    self._write(step, values)

  def write_summaries(self, step, values, metadata=None):
    raise NotImplementedError("This run writes scalars and images only.")

  def write_texts(self, step, texts):
    raise NotImplementedError("This run writes scalars and images only.")

  def write_videos(self, step, videos):
    raise NotImplementedError("This run writes scalars and images only.")

  def write_audios(self, step, audios, *, sample_rate):
    raise NotImplementedError("This run writes scalars and images only.")

  def write_histograms(self, step, arrays, num_buckets=None):
    raise NotImplementedError("This run writes scalars and images only.")

  def write_hparams(self, hparams):
    raise NotImplementedError("This run writes scalars and images only.")

  def flush(self) -> None:
    """Closes the event file: its object lands in the store; the next event opens another."""
    if self._records is not None:
      self._records.close()
      self._records = self._file = None

  def close(self) -> None:
    self.flush()
