"""Evaluators by name: the schedule, the entries' checks against their module, and build."""

import dataclasses
import sys
import types

import ml_collections
import pytest

from an_flax.runtime import evaluators


@dataclasses.dataclass
class _Evaluator:
  every_steps: int


def test_evaluators_run_every_n_steps_and_all_at_the_last_step():
  every3, off = _Evaluator(3), _Evaluator(0)
  due = {step: evaluators.due([every3, off], step, last=step == 7) for step in range(1, 8)}
  assert {step for step, run in due.items() if every3 in run} == {3, 6, 7}
  assert {step for step, run in due.items() if off in run} == {7}


@pytest.fixture
def package(monkeypatch):
  """A package `fake_evals` with one evaluator type, `count`, as a module of its own."""
  count = types.ModuleType("fake_evals.count")
  count.defaults = lambda: ml_collections.ConfigDict(dict(every_steps=0, limit=3))
  count.checked = []
  count.check = lambda config, entry, field: count.checked.append(field)

  class Evaluator:  # remembers what it was built with
    def __init__(self, name, entry, config, context, training):
      self.name, self.every_steps, self.context, self.training = (
          name, entry.every_steps, context, training)

    def __call__(self, variables):
      return {f"{self.name}/value": float(variables)}

  count.Evaluator = Evaluator
  root = types.ModuleType("fake_evals")
  root.__path__ = []
  monkeypatch.setitem(sys.modules, "fake_evals", root)
  monkeypatch.setitem(sys.modules, "fake_evals.count", count)
  monkeypatch.setattr(evaluators, "available", lambda package: ["count"])
  return count


def _config(**entries) -> ml_collections.ConfigDict:
  return ml_collections.ConfigDict({"evals": entries})


def test_entries_are_checked_against_their_type_s_fields(package):
  evaluators.check_entries(_config(a={"type": "count", "every_steps": 2, "limit": 5}),
                           "fake_evals")
  assert package.checked == ["evals.a"]
  for entry, message in (
      ({"type": "count", "every_steps": 2}, r"config\.evals\.a\.limit: missing"),
      ({"type": "count", "every_steps": 2, "limit": 5, "x": 1},
       r"config\.evals\.a\.x: unknown field"),
      ({"type": "count", "every_steps": "2", "limit": 5},
       r"config\.evals\.a\.every_steps: '2' is not of type int"),
      ({"type": "counter", "every_steps": 2, "limit": 5},
       r"config\.evals\.a\.type: unknown evaluator 'counter'; use one of \['count'\]"),
      ({"every_steps": 2}, r"config\.evals\.a: an evaluator needs a `type`")):
    with pytest.raises(ValueError, match=message):
      evaluators.check_entries(_config(a=entry), "fake_evals")


def test_build_shares_the_context_and_leaves_out_entries_off_while_training(package):
  config = _config(b={"type": "count", "every_steps": 0, "limit": 1},
                   a={"type": "count", "every_steps": 4, "limit": 1})
  context = object()
  [trained] = evaluators.build("fake_evals", config, context, training=True)
  assert (trained.name, trained.every_steps, trained.training) == ("a", 4, True)
  both = evaluators.build("fake_evals", config, context, training=False)
  assert [e.name for e in both] == ["a", "b"] and all(e.context is context for e in both)
  assert both[1](2.5) == {"b/value": 2.5}
