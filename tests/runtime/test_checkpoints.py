"""Checkpoints never lose a run: a kill mid-save keeps the previous one, a damaged newest
one is moved aside and the previous restored, a failed save is reported at once with its
partial step removed; incompatible configs are named."""

import os
import signal
import subprocess
import sys
import textwrap
import time

import jax
import jax.numpy as jnp
import numpy as np
import orbax.checkpoint as ocp
import pytest

from an_flax.models import build_models
from an_flax.runtime import checkpoints, mesh as mesh_lib
from an_flax.runtime.checkpoints import Checkpointer
from an_flax.training import state as state_lib
from configs import default
from runtime import faults
from training.helpers import REPO, TINY, override

_KILLED_MID_SAVE = textwrap.dedent("""
    import os, signal, sys
    import jax.numpy as jnp, numpy as np
    from an_flax.runtime.checkpoints import Checkpointer
    from configs import default
    checkpointer = Checkpointer(sys.argv[1], every_steps=1, keep=3)
    checkpointer.save(1, {"w": jnp.arange(4.0)}, default.get_config())
    checkpointer.wait()
    big = np.random.default_rng(0).standard_normal(48_000_000, dtype=np.float32)  # 192 MB
    checkpointer.save(2, {"w": jnp.asarray(big[:4]), "big": jnp.asarray(big)},
                      default.get_config())
    os.kill(os.getpid(), signal.SIGKILL)  # while the asynchronous save is writing
""")


def test_kill_during_save_leaves_previous_checkpoint_restorable(tmp_path):
  result = subprocess.run([sys.executable, "-c", _KILLED_MID_SAVE, str(tmp_path)], cwd=REPO,
                          env={**os.environ, "JAX_PLATFORMS": "cpu"}, timeout=300,
                          capture_output=True, text=True)
  assert result.returncode == -signal.SIGKILL, result.stderr[-2000:]
  leftovers = os.listdir(tmp_path / "checkpoints")
  assert any("tmp" in name for name in leftovers), f"save finished before the kill: {leftovers}"

  checkpointer = Checkpointer(str(tmp_path), every_steps=1, keep=3)
  assert checkpointer.latest_step() == 1
  restored = checkpointer.restore(1, {"w": jax.ShapeDtypeStruct((4,), jnp.float32)},
                                  default.get_config())
  np.testing.assert_array_equal(restored["w"], np.arange(4.0))


def _tiny(**values):
  config = override(default.get_config(), {k: v for k, v in TINY.items() if "model." in k})
  return override(config, values)


def _zero_state(config):
  """A TrainState of the right shapes, without compiling the initialisers."""
  generator, discriminator = build_models(config.model)
  g_tx, d_tx = state_lib.make_optimizers(config)
  abstract = jax.eval_shape(lambda key: state_lib.create_train_state(
      config, generator, discriminator, g_tx, d_tx, key), jax.random.PRNGKey(0))
  return abstract, jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), abstract)


def test_incompatible_checkpoint_names_the_config_that_wrote_it(tmp_path):
  config = _tiny()
  _, state = _zero_state(config)
  checkpointer = Checkpointer(str(tmp_path), every_steps=1, keep=1)
  checkpointer.save(3, state, config)
  checkpointer.wait()

  wider = _tiny(**{"model.g_ch": 16})
  abstract, _ = _zero_state(wider)
  with pytest.raises(ValueError) as error:
    checkpointer.restore(3, abstract, wider)
  message = str(error.value)
  assert "incompatible config" in message
  assert "model.g_ch: checkpoint 8 vs this run 16" in message
  assert os.path.join(str(tmp_path), "checkpoints", "3", "config") in message

  # Fields that change no shape (compute dtype, kappa) restore fine.
  other = _tiny(**{"model.dtype": "bfloat16", "model.an.kappa": 5.0})
  replicated = mesh_lib.replicated(mesh_lib.create_mesh())
  abstract, _ = _zero_state(other)
  abstract = jax.tree.map(lambda s: jax.ShapeDtypeStruct(s.shape, s.dtype, sharding=replicated),
                          abstract)
  restored = checkpointer.restore(3, abstract, other)
  assert int(restored.step) == 0 and restored.g_params.keys() == state.g_params.keys()
  checkpointer.close()


def test_a_model_field_the_checkpoint_predates_is_no_change_and_a_changed_one_warns(
    tmp_path, monkeypatch):
  """A field a later schema added (absent from the checkpoint's config) restores silently;
  a field with another value is named in a warning."""
  warnings = []
  monkeypatch.setattr(checkpoints.logging, "warning",
                      lambda message, *args: warnings.append(message % args))
  state = {"w": jnp.arange(4.0)}
  abstract = {"w": jax.ShapeDtypeStruct((4,), jnp.float32)}
  older = _tiny()
  del older.model["g_ch"]  # written before the schema had the field
  checkpointer = Checkpointer(str(tmp_path), every_steps=1, keep=3)
  checkpointer.save(1, state, older)
  checkpointer.save(2, state, _tiny(**{"model.g_ch": 16}))
  checkpointer.wait()
  checkpointer.restore(1, abstract, _tiny())
  assert warnings == []
  checkpointer.restore(2, abstract, _tiny())
  assert len(warnings) == 1 and "model.g_ch: checkpoint 16 vs this run 8" in warnings[0]
  checkpointer.close()


def _two_checkpoints(workdir: str) -> dict:
  """Steps 1 and 2 of a small tree (a real data file each); returns its abstract tree."""
  checkpointer = Checkpointer(workdir, every_steps=1, keep=3)
  rng = np.random.default_rng(0)
  for step in (1, 2):
    checkpointer.save(step, {"w": jnp.arange(4.0) * step,
                             "b": jnp.asarray(rng.standard_normal(50_000, np.float32))},
                      default.get_config())
    checkpointer.wait()
  checkpointer.close()
  return {"w": jax.ShapeDtypeStruct((4,), jnp.float32),
          "b": jax.ShapeDtypeStruct((50_000,), jnp.float32)}


def _truncate_largest_data_file(step_dir) -> None:
  files = sorted((p for p in (step_dir / "state").rglob("*") if p.is_file()),
                 key=lambda p: p.stat().st_size)
  with open(files[-1], "r+b") as f:
    f.truncate(files[-1].stat().st_size // 2)


DAMAGES = {
    "truncated data file": (_truncate_largest_data_file, "OUT_OF_RANGE"),
    "missing manifest": (lambda step_dir: (step_dir / "state" / "manifest.ocdbt").unlink(),
                         "NOT_FOUND"),
    "missing metadata": (lambda step_dir: (step_dir / "state" / "_METADATA").unlink(),
                         "array metadata (state/_METADATA) is missing"),
}


@pytest.mark.parametrize("damage", DAMAGES)
def test_damaged_newest_checkpoint_is_moved_aside_and_the_previous_one_restored(
    damage, tmp_path, caplog):
  abstract = _two_checkpoints(str(tmp_path))
  damage_fn, reason = DAMAGES[damage]
  damage_fn(tmp_path / "checkpoints" / "2")
  checkpointer = Checkpointer(str(tmp_path), every_steps=1, keep=3)
  with caplog.at_level("WARNING"):
    state, step = checkpointer.restore_latest(abstract, default.get_config())
  checkpointer.close()
  assert step == 1
  np.testing.assert_array_equal(state["w"], np.arange(4.0))
  assert sorted(os.listdir(tmp_path / "checkpoints")) == ["1", "2.damaged"]
  assert "Checkpoint step 2 is damaged" in caplog.text and reason in caplog.text
  assert "incompatible" not in caplog.text


def test_read_only_restore_skips_a_damaged_step_without_moving_it(tmp_path):
  abstract = _two_checkpoints(str(tmp_path))
  (tmp_path / "checkpoints" / "2" / "state" / "manifest.ocdbt").unlink()
  checkpointer = Checkpointer(str(tmp_path), every_steps=1, keep=3, read_only=True)
  _, step = checkpointer.restore_latest(abstract, default.get_config())
  assert step == 1 and sorted(os.listdir(tmp_path / "checkpoints")) == ["1", "2"]


def test_when_no_checkpoint_restores_the_error_lists_every_step_tried(tmp_path):
  abstract = _two_checkpoints(str(tmp_path))
  for step in ("1", "2"):
    (tmp_path / "checkpoints" / step / "state" / "manifest.ocdbt").unlink()
  checkpointer = Checkpointer(str(tmp_path), every_steps=1, keep=3)
  with pytest.raises(checkpoints.DamagedCheckpointError) as error:
    checkpointer.restore_latest(abstract, default.get_config())
  message = str(error.value)
  assert "No checkpoint in" in message and "step 2:" in message and "step 1:" in message
  assert sorted(os.listdir(tmp_path / "checkpoints")) == ["1.damaged", "2.damaged"]


def test_read_only_checkpointer_of_a_workdir_without_checkpoints_creates_nothing(tmp_path):
  with pytest.raises(FileNotFoundError, match="No checkpoints in"):
    Checkpointer(str(tmp_path), every_steps=1, keep=3, read_only=True)
  assert not os.listdir(tmp_path)


def test_failed_save_is_reported_without_blocking_and_its_partial_step_removed(
    tmp_path, monkeypatch):
  """A save that fails in its background commit (a full disk): `check_saves` raises one
  message naming the step, the cause and the free space; step 1 stays restorable."""
  monkeypatch.setenv("AN_FLAX_TEST_DISK_FULL_STEP", "2")
  monkeypatch.setattr(ocp.StandardCheckpointHandler, "async_save",
                      ocp.StandardCheckpointHandler.async_save)  # restored after the test
  exec(faults.DISK_FULL_PATCH, {})  # pylint: disable=exec-used
  checkpointer = Checkpointer(str(tmp_path), every_steps=1, keep=3)
  checkpointer.save(1, {"w": jnp.arange(4.0)}, default.get_config())
  checkpointer.wait()
  checkpointer.save(2, {"w": jnp.arange(4.0) * 2}, default.get_config())
  deadline = time.monotonic() + 60
  with pytest.raises(checkpoints.CheckpointSaveError) as error:
    while time.monotonic() < deadline:
      checkpointer.check_saves()
      time.sleep(0.05)
  message = str(error.value)
  assert "Saving the checkpoint of step 2" in message and "No space left on device" in message
  assert "MiB are free" in message and "newest complete checkpoint is step 1" in message
  assert os.listdir(tmp_path / "checkpoints") == ["1"]
  restored = checkpointer.restore(1, {"w": jax.ShapeDtypeStruct((4,), jnp.float32)},
                                  default.get_config())
  np.testing.assert_array_equal(restored["w"], np.arange(4.0))
  checkpointer.close()


def test_the_best_and_the_read_checkpoints_outlive_the_newest(tmp_path):
  """keep=2 newest, keep_best=2 by a lower-is-better score; a reader's lease protects its
  step too, and a stale lease does not."""
  config = default.get_config()
  best = checkpoints.KeepBest(count=2, metric="fid/fid", mode="min")
  writer = Checkpointer(str(tmp_path), every_steps=1, keep=2, keep_best=best)
  scores = {1: 30.0, 2: 10.0, 3: 40.0, 4: 20.0, 5: 50.0, 6: 60.0, 7: 70.0}
  reader = Checkpointer(str(tmp_path), every_steps=1, keep=2, read_only=True)
  for step, fid in scores.items():
    writer.save(step, {"w": jnp.full((2,), float(step))}, config)
    writer.wait()
    writer.record_scores(step, {"fid/fid": fid, "fid/inception_score": 1.0})
    if step == 3:  # step 1 is read (e.g. by eval.py) while steps 4 to 7 land
      lease = reader.reading(1)
      lease.__enter__()
  # After step 7: newest 6, 7; best 2 (10) and 4 (20); 1 is read; 3 and 5 are gone.
  assert writer.all_steps() == [1, 2, 4, 6, 7]
  assert writer.best_steps() == [2, 4]
  lease.__exit__(None, None, None)
  writer.save(8, {"w": jnp.full((2,), 8.0)}, config)
  writer.wait()
  assert writer.all_steps() == [2, 4, 7, 8]  # the lease is gone: so is step 1

  assert not (tmp_path / "checkpoints" / checkpoints.READING_DIR).exists()  # tidied up
  stale = tmp_path / "checkpoints" / checkpoints.READING_DIR / "7.otherhost.1"
  stale.parent.mkdir()
  stale.write_text(str(time.time() - checkpoints.LEASE_SECONDS - 1))
  assert writer.read_steps() == set()
  restored = writer.restore(2, {"w": jax.ShapeDtypeStruct((2,), jnp.float32)}, config)
  np.testing.assert_array_equal(restored["w"], [2.0, 2.0])
  writer.close()
  reader.close()


def test_a_best_metric_no_training_evaluator_logs_is_refused():
  from an_flax.training.config import validate_config
  config = default.get_config()
  config.checkpoint.keep_best = 3
  config.checkpoint.best_metric = "shapes/frechet_distance"
  config.evals.shapes.every_steps = 300  # does not divide the checkpoints' 800
  with pytest.raises(ValueError, match=r"config\.evals\.shapes\.every_steps=300 must divide"):
    validate_config(config)
  config.checkpoint.best_metric = "fid/fid"
  with pytest.raises(ValueError, match=r"config\.evals 'fid' does not exist"):
    validate_config(config)
