"""The run directory: checked writable before anything is built, and locked while a run uses it.

The lock is `<workdir>/lock`, a JSON record of its holder (host, pid, start time,
command), created atomically (O_CREAT | O_EXCL) by process 0 of a job, so one lock
stands for the whole multi-host job. A background thread refreshes its modification
time every `HEARTBEAT_SECONDS`. A second run on the workdir is refused, naming the
holder. A lock is stale, and is taken over with a warning, when its holder ran on this
host and its process is gone, or when it has not been refreshed for `STALE_SECONDS`
(a holder on another host that died). The lock needs a POSIX filesystem (local disk,
NFS): workdirs are local paths throughout this project; a gs:// workdir is refused by
`check_writable`.
"""

import datetime
import errno
import json
import os
import socket
import sys
import threading
import time
from typing import Any, Dict, Optional

import jax
from absl import logging
from jax.experimental import multihost_utils

LOCK_NAME = "lock"
HEARTBEAT_SECONDS = 30.0
STALE_SECONDS = 600.0


class WorkdirError(Exception):
  """The workdir cannot be used: a file, read-only, or held by another run."""


def check_writable(workdir: str) -> None:
  """Creates `workdir` if needed and checks that files can be written in it."""
  if "://" in workdir:
    raise WorkdirError(f"--workdir={workdir}: only local or network-mounted (POSIX) "
                       "directories are supported; mount the bucket (e.g. gcsfuse) and pass "
                       "its path.")
  if os.path.exists(workdir) and not os.path.isdir(workdir):
    raise WorkdirError(f"--workdir={workdir} is a file, not a directory: choose a directory "
                       "(it is created if missing).")
  try:
    os.makedirs(workdir, exist_ok=True)
    probe = os.path.join(workdir, f".write_test.{os.getpid()}")
    with open(probe, "w") as f:
      f.write("ok")
    os.remove(probe)
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
    self.path = os.path.join(workdir, LOCK_NAME)
    self._stop = threading.Event()
    self._thread: Optional[threading.Thread] = None

  def _read_holder(self) -> Optional[Dict[str, Any]]:
    try:
      with open(self.path) as f:
        return json.load(f)
    except FileNotFoundError:
      return None
    except (OSError, ValueError):
      return {}  # being written, or garbage: judged by its age

  def _stale(self, holder: Dict[str, Any]) -> bool:
    try:
      age = time.time() - os.path.getmtime(self.path)
    except FileNotFoundError:
      return True
    if holder.get("host") == socket.gethostname() and isinstance(holder.get("pid"), int):
      return not _pid_alive(holder["pid"])
    return age > STALE_SECONDS

  def _try_create(self) -> bool:
    record = {"host": socket.gethostname(), "pid": os.getpid(),
              "started": datetime.datetime.now().isoformat(timespec="seconds"),
              "command": " ".join(sys.argv), "processes": jax.process_count()}
    try:
      fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
      return False
    with os.fdopen(fd, "w") as f:
      json.dump(record, f)
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
        os.remove(self.path)
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
        os.utime(self.path)
      except OSError:
        pass

  def __exit__(self, *exc_info) -> None:
    if self._thread is None:
      return
    self._stop.set()
    self._thread.join()
    holder = self._read_holder()
    if holder and holder.get("pid") == os.getpid() and holder.get("host") == socket.gethostname():
      os.remove(self.path)
