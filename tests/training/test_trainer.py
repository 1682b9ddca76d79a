"""The trainer's schedule of the evaluators it is handed (a real one runs in test_runs.py)."""

import dataclasses

from an_flax.training import trainer


@dataclasses.dataclass
class _Evaluator:
  every_steps: int


def test_evaluators_run_every_n_steps_and_all_at_the_last_step():
  every3, off = _Evaluator(3), _Evaluator(0)
  due = {step: trainer.due_evaluators([every3, off], step, last=step == 7)
         for step in range(1, 8)}
  assert {step for step, run in due.items() if every3 in run} == {3, 6, 7}
  assert {step for step, run in due.items() if off in run} == {7}
