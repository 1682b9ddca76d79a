"""Session fixtures of the training tests: the embedded data and a shared XLA cache."""

import pytest

from training.helpers import tiny_config


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory) -> str:
  """The embedded dataset, generated once per session so subprocesses only read it."""
  from an_flax.data import input_pipeline
  path = str(tmp_path_factory.mktemp("tfds"))
  next(input_pipeline.create_train_iterator(tiny_config(path)))
  return path


@pytest.fixture(scope="session")
def compile_cache(tmp_path_factory) -> str:
  """A persistent XLA cache shared by the subprocess runs: each program compiles once."""
  return str(tmp_path_factory.mktemp("xla_cache"))
