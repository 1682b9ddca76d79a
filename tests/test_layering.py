"""The packages depend on each other only downwards: a module importing across the lines
below fails this test.

  functional <- layers <- models <- {training, inpainting, evaluation, convert}
  data and metrics stand alone but for two modules (data's prepare command starts through
  `an_flax.runtime.launch`, as the other command lines do; metrics reads prepared splits
  through `an_flax.data.records`); runtime stands on data (the run reads the shared input
  pipeline); the tasks stand on all three.
  training and inpainting never import each other, evaluation or convert; evaluation
  reads the GAN task's state definitions (`an_flax.training.state`) and nothing else of it.
"""

import ast
import pathlib

import pytest

PACKAGE = pathlib.Path(__file__).parents[1] / "an_flax"
LIBRARIES = ("functional", "layers", "models", "data", "metrics", "runtime")
# Package -> what of an_flax it may import besides itself: packages, or single modules.
ALLOWED = {
    "functional": set(),
    "layers": {"functional"},
    "models": {"functional", "layers"},
    "data": {"runtime.launch"},  # `python -m an_flax.data.prepare` starts as the others do
    "metrics": {"data.records"},  # the FID command line reads prepared splits
    "runtime": {"data"},  # the run reads the shared input pipeline
    "training": set(LIBRARIES),
    "inpainting": set(LIBRARIES),
    "evaluation": {*LIBRARIES, "training.state"},
    "convert": {*LIBRARIES, "training"},
}


def _imports(path: pathlib.Path) -> list[tuple[str, ...]]:
  """The an_flax imports of a module, each as the names that would make it legal: `import
  an_flax.a.b` is ('a.b',); `from an_flax.a import b` is ('a', 'a.b'), since b is a member
  of a or its submodule."""
  found = []
  for node in ast.walk(ast.parse(path.read_text())):
    if isinstance(node, ast.Import):
      found += [(alias.name,) for alias in node.names]
    elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
      found += [(node.module, f"{node.module}.{alias.name}") for alias in node.names]
  return [tuple(name.removeprefix("an_flax.") for name in names) for names in found
          if names[0] == "an_flax" or names[0].startswith("an_flax.")]


def allowed(package: str, name: str) -> bool:
  """Whether a module of `package` may import `name` ('models', 'training.state', ...)."""
  if name in ("an_flax", package) or name.startswith(package + "."):
    return True
  return any(name == rule or name.startswith(rule + ".") for rule in ALLOWED[package])


MODULES = sorted(path for path in PACKAGE.rglob("*.py") if path.parent != PACKAGE
                 or path.name != "__init__.py")


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_module_imports_only_what_its_package_may(path):
  package = path.relative_to(PACKAGE).parts[0].removesuffix(".py")
  assert package in ALLOWED, f"an_flax/{package} has no rule: add it to ALLOWED"
  forbidden = [names[-1] for names in _imports(path)
               if not any(allowed(package, name) for name in names)]
  assert not forbidden, f"{path.relative_to(PACKAGE.parent)} imports {forbidden}"


def test_the_rules_catch_imports_across_the_lines(tmp_path):
  module = tmp_path / "bad.py"
  module.write_text("from an_flax.training import trainer\nimport an_flax.evaluation.evaluate\n"
                    "from an_flax.training.state import TrainState\n")
  assert _imports(module) == [("training", "training.trainer"), ("evaluation.evaluate",),
                              ("training.state", "training.state.TrainState")]
  assert not any(allowed("evaluation", name) for name in ("training", "training.trainer"))
  assert allowed("evaluation", "training.state.TrainState")
  assert not allowed("inpainting", "training.state")
  assert not allowed("training", "evaluation.evaluate")
  assert not allowed("runtime", "training")
  assert not allowed("data", "runtime.run")
