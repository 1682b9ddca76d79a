"""Multi-process jobs on localhost, as several hosts run one: a free coordinator port, and
one command run as every process of a job."""

import os
import socket
import subprocess
import sys
from typing import List, Tuple

from training.helpers import FAST_COMPILE_FLAG


def free_port() -> int:
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


def run_job(command: List[str], cwd: str, num_processes: int = 2, devices_per_process: int = 1,
            timeout: float = 400) -> Tuple[List[int], List[str]]:
  """`python *command` as processes 0..num_processes-1 of one job over gloo, each on its own
  CPU devices; returns their exit statuses and outputs."""
  address = f"127.0.0.1:{free_port()}"
  env = {**os.environ, "JAX_PLATFORMS": "cpu", "TF_CPP_MIN_LOG_LEVEL": "2",
         "XLA_FLAGS": f"--xla_force_host_platform_device_count={devices_per_process} "
                      f"{FAST_COMPILE_FLAG}"}
  processes = [subprocess.Popen(
      [sys.executable, *command, f"--coordinator_address={address}",
       f"--num_processes={num_processes}", f"--process_id={i}"],
      cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
      for i in range(num_processes)]
  try:
    logs = [p.communicate(timeout=timeout)[0] for p in processes]
  finally:
    for p in processes:
      p.kill()
  return [p.returncode for p in processes], logs
