"""The workdir: checked before anything is built, and locked against a second run."""

import builtins
import errno
import json
import os
import socket
import subprocess
import sys
import time

import pytest

from an_flax.runtime import workdir as workdir_lib


def test_a_file_or_a_read_only_directory_is_refused(tmp_path, monkeypatch):
  afile = tmp_path / "afile"
  afile.write_text("")
  with pytest.raises(workdir_lib.WorkdirError, match="is a file, not a directory"):
    workdir_lib.check_writable(str(afile))
  real_open = builtins.open

  def read_only_open(path, mode="r", *args, **kwargs):
    if "w" in mode and str(path).startswith(str(tmp_path / "ro")):
      raise PermissionError(errno.EROFS, "Read-only file system", str(path))
    return real_open(path, mode, *args, **kwargs)

  monkeypatch.setattr(builtins, "open", read_only_open)  # root ignores chmod
  with pytest.raises(workdir_lib.WorkdirError, match="Cannot write in --workdir=.*ro: it is "
                     "read-only"):
    workdir_lib.check_writable(str(tmp_path / "ro"))


def _holder(tmp_path, pid: int, host: str | None = None) -> None:
  record = {"host": host or socket.gethostname(), "pid": pid, "started": "then",
            "command": "train.py --workdir=x"}
  (tmp_path / workdir_lib.LOCK_NAME).write_text(json.dumps(record))


def test_a_held_workdir_is_refused_naming_the_holder(tmp_path):
  sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
  try:
    _holder(tmp_path, sleeper.pid)
    with pytest.raises(workdir_lib.WorkdirError) as error:
      with workdir_lib.WorkdirLock(str(tmp_path)):
        pass
  finally:
    sleeper.kill()
    sleeper.wait()
  message = str(error.value)
  assert f"pid {sleeper.pid}" in message and socket.gethostname() in message
  assert "started then" in message and "train.py --workdir=x" in message
  assert (tmp_path / workdir_lib.LOCK_NAME).exists()  # the holder's lock is left alone


def test_the_lock_is_released_on_exit_and_held_inside(tmp_path):
  with workdir_lib.WorkdirLock(str(tmp_path)):
    holder = json.loads((tmp_path / workdir_lib.LOCK_NAME).read_text())
    assert holder["pid"] == os.getpid() and holder["host"] == socket.gethostname()
    with pytest.raises(workdir_lib.WorkdirError, match="Another run is using this workdir"):
      with workdir_lib.WorkdirLock(str(tmp_path)):
        pass
  assert not (tmp_path / workdir_lib.LOCK_NAME).exists()


def test_stale_locks_are_taken_over_with_a_warning(tmp_path, caplog):
  dead = subprocess.Popen([sys.executable, "-c", "pass"])
  dead.wait()
  _holder(tmp_path, dead.pid)  # this host, process gone
  with caplog.at_level("WARNING"):
    with workdir_lib.WorkdirLock(str(tmp_path)):
      assert json.loads((tmp_path / workdir_lib.LOCK_NAME).read_text())["pid"] == os.getpid()
  assert "Taking over the stale lock" in caplog.text and f"pid {dead.pid}" in caplog.text

  _holder(tmp_path, 1, host="another-host")  # another host: judged by the heartbeat's age
  with pytest.raises(workdir_lib.WorkdirError, match="host another-host"):
    with workdir_lib.WorkdirLock(str(tmp_path)):
      pass
  old = time.time() - workdir_lib.STALE_SECONDS - 1
  os.utime(tmp_path / workdir_lib.LOCK_NAME, (old, old))
  with workdir_lib.WorkdirLock(str(tmp_path)):
    pass
