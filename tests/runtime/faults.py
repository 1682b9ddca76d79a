"""Faults injected into Orbax for the tests: a save that fails as a full disk does.

`DISK_FULL_PATCH` is Python source that patches `StandardCheckpointHandler.async_save` so
that the save of step `AN_FLAX_TEST_DISK_FULL_STEP` (an environment variable) writes its
data, then fails in the background commit with ENOSPC, as TensorStore does when the disk
fills. In-process tests exec it; subprocess runs get it as a `sitecustomize.py`.
"""

import os

DISK_FULL_PATCH = '''
import errno, os
import orbax.checkpoint as ocp

_failing_step = os.environ.get("AN_FLAX_TEST_DISK_FULL_STEP")
_original_async_save = ocp.StandardCheckpointHandler.async_save


class _DiskFull:
  def result(self, timeout=None):
    raise OSError(errno.ENOSPC, "No space left on device")


async def _async_save(self, directory, *args, **kwargs):
  futures = await _original_async_save(self, directory, *args, **kwargs)
  if _failing_step and f"/{_failing_step}." in str(getattr(directory, "path", directory)):
    futures = list(futures or []) + [_DiskFull()]
  return futures


if _failing_step:
  ocp.StandardCheckpointHandler.async_save = _async_save
'''


def sitecustomize_dir(tmp_path) -> str:
  """A directory to put first on PYTHONPATH: its sitecustomize.py applies the patch."""
  folder = os.path.join(str(tmp_path), "disk_full_site")
  os.makedirs(folder, exist_ok=True)
  with open(os.path.join(folder, "sitecustomize.py"), "w") as f:
    f.write(DISK_FULL_PATCH)
  return folder
