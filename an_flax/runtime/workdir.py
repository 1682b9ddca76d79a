"""The run directory: checked writable before anything is built, and locked while a run uses it.

A workdir is a local (or network-mounted) directory, or a folder of an object store
(`gs://bucket/run`: checkpoints through Orbax and TensorStore, every other file through
`etils.epath`, both of which reach Cloud Storage natively).

The lock is `<workdir>/lock`, a JSON record of its holder (host, pid, start time, command,
last refresh), created by process 0 of a job only if it does not exist: `O_EXCL` on a file
system, a write with the precondition "no generation yet" on Cloud Storage (fsspec's
`pipe_file(mode='create')` through gcsfs), so one lock stands for the whole multi-host
job. A background thread rewrites its `refreshed` time every `HEARTBEAT_SECONDS`. A second
run on the workdir is refused, naming the holder. A lock is stale, and is taken over with a
warning, when its holder ran on this host and its process is gone, or when it was not
refreshed for `STALE_SECONDS` (a holder on another host that died).
"""

import datetime
import errno
import json
import os
import socket
import sys
import threading
import time
import uuid
from typing import Any, Dict, Optional, Union

import fsspec
import jax
from absl import logging
from jax.experimental import multihost_utils

LOCK_NAME = "lock"
HEARTBEAT_SECONDS = 30.0
STALE_SECONDS = 600.0


class WorkdirError(Exception):
  """The workdir cannot be used: a file, read-only, or held by another run."""


def is_remote(path: Union[str, os.PathLike]) -> bool:
  """An object-store URL (`gs://...`), not a file system path."""
  return "://" in os.fspath(path)


def absolute(path: Union[str, os.PathLike]) -> str:
  """`path` made absolute when it is a file system path; URLs as they are."""
  return os.fspath(path) if is_remote(path) else os.path.abspath(path)


def join(path: Union[str, os.PathLike], *names: str) -> str:
  if is_remote(path):
    return "/".join([os.fspath(path).rstrip("/"), *names])
  return os.path.join(path, *names)


def check_writable(workdir: str) -> None:
  """Creates `workdir` if needed and checks that files can be written in it."""
  fs, path = fsspec.core.url_to_fs(workdir)
  if fs.isfile(path):
    raise WorkdirError(f"--workdir={workdir} is a file, not a directory: choose a directory "
                       "(it is created if missing).")
  probe = f"{path.rstrip('/')}/.write_test.{socket.gethostname()}.{os.getpid()}.{uuid.uuid4().hex}"
  try:
    fs.makedirs(path, exist_ok=True)
    with fs.open(probe, "w") as f:
      f.write("ok")
    fs.rm(probe)
  except OSError as error:
    reason = ("it is read-only" if error.errno in (errno.EACCES, errno.EROFS, errno.EPERM)
              else error.strerror or str(error))
    raise WorkdirError(f"Cannot write in --workdir={workdir}: {reason}. Choose a directory "
                       "you can write to.") from error


def _pid_alive(pid: int) -> bool:
  try:
    os.kill(pid, 0)
  except ProcessLookupError:
    return False
  except PermissionError:  # exists, owned by someone else
    return True
  return True


def _describe(holder: Dict[str, Any]) -> str:
  return (f"host {holder.get('host')}, pid {holder.get('pid')}, started "
          f"{holder.get('started')}: {holder.get('command')}")


class WorkdirLock:
  """`with WorkdirLock(workdir):` holds the workdir for this job; released on exit."""

  def __init__(self, workdir: str):
    self.path = join(workdir, LOCK_NAME)
    self._fs, self._fs_path = fsspec.core.url_to_fs(self.path)
    self._record: Optional[Dict[str, Any]] = None
    self._stop = threading.Event()
    self._thread: Optional[threading.Thread] = None

  def _read_holder(self) -> Optional[Dict[str, Any]]:
    try:
      return json.loads(self._fs.cat_file(self._fs_path))
    except FileNotFoundError:
      return None
    except (OSError, ValueError):
      return {}  # being written, or garbage: judged by its age

  def _age(self, holder: Dict[str, Any]) -> float:
    """Seconds since the holder last refreshed the lock (the object's time if unrecorded)."""
    refreshed = holder.get("refreshed")
    if not isinstance(refreshed, (int, float)):
      try:
        refreshed = self._fs.modified(self._fs_path).timestamp()
      except (OSError, NotImplementedError):
        return 0.0
    return time.time() - refreshed

  def _stale(self, holder: Dict[str, Any]) -> bool:
    if holder.get("host") == socket.gethostname() and isinstance(holder.get("pid"), int):
      return not _pid_alive(holder["pid"])
    return self._age(holder) > STALE_SECONDS

  def _write(self, create: bool) -> None:
    """Writes the record; with `create`, only if no lock exists (else FileExistsError): a
    Cloud Storage write with the precondition "no generation yet", or an `O_EXCL` open."""
    self._record["refreshed"] = time.time()
    data = json.dumps(self._record).encode()
    if create and is_remote(self.path):
      self._fs.pipe_file(self._fs_path, data, mode="create")
      return
    with self._fs.open(self._fs_path, "xb" if create else "wb") as f:
      f.write(data)

  def _try_create(self) -> bool:
    self._record = {"host": socket.gethostname(), "pid": os.getpid(),
                    "started": datetime.datetime.now().isoformat(timespec="seconds"),
                    "command": " ".join(sys.argv), "processes": jax.process_count()}
    try:
      self._write(create=True)
    except FileExistsError:
      return False
    return True

  def _acquire_here(self) -> Optional[str]:
    """Takes the lock (process 0); returns None, or why it cannot."""
    for _ in range(3):
      if self._try_create():
        return None
      holder = self._read_holder()
      if holder is None:
        continue  # released meanwhile
      if not self._stale(holder):
        return (f"Another run is using this workdir ({_describe(holder)}); its lock is "
                f"{self.path}. Wait for it to finish, stop it, or use another --workdir. "
                "If that run is gone, delete the lock file.")
      logging.warning("Taking over the stale lock %s (%s: that process is gone).", self.path,
                      _describe(holder))
      try:
        self._fs.rm(self._fs_path)
      except FileNotFoundError:
        pass
    return f"Could not take the lock {self.path}: it keeps changing; is another run starting?"

  def __enter__(self) -> "WorkdirLock":
    problem = self._acquire_here() if jax.process_index() == 0 else None
    if jax.process_count() > 1:
      problem_flag = multihost_utils.broadcast_one_to_all(int(problem is not None))
      if problem_flag and problem is None:
        problem = "Process 0 could not lock the workdir (its log says why)."
    if problem:
      raise WorkdirError(problem)
    if jax.process_index() == 0:
      self._thread = threading.Thread(target=self._heartbeat, daemon=True, name="workdir-lock")
      self._thread.start()
    return self

  def _heartbeat(self) -> None:
    while not self._stop.wait(HEARTBEAT_SECONDS):
      try:
        if self._read_holder() == self._record:  # still ours: rewrite its refresh time
          self._write(create=False)
      except OSError:
        pass

  def __exit__(self, *exc_info) -> None:
    if self._thread is None:
      return
    self._stop.set()
    self._thread.join()
    holder = self._read_holder()
    if holder and holder.get("pid") == os.getpid() and holder.get("host") == socket.gethostname():
      self._fs.rm(self._fs_path)
