"""The package's layout holds: imports run one way, down the layers, and no module grows past
400 lines (``ARCHITECTURE.md`` draws the layers).

Every import counts, the ones inside functions and under ``TYPE_CHECKING`` too: a function-level
import of a layer above is the same knot as a top-level one, only hidden.
"""

import ast
from pathlib import Path

from django.test import SimpleTestCase

import arunner

PACKAGE = Path(arunner.__file__).parent

#: Bottom-up. A module may import from its own package and from packages of a lower rank,
#: never from one of its own rank or above. The package's top-level modules (the public API,
#: ``__main__``) sit above everything; ``runner`` is one of them but below the command.
RANKS = {
    "arunner.core": 0,
    "arunner.guards": 1,
    "arunner.timeouts": 1,
    "arunner.report": 1,
    "arunner.parallel": 2,
    "arunner.runsetup": 2,
    "arunner.suite": 3,
    "arunner.runner": 4,
    "arunner.cli": 5,
    "arunner": 6,
}

MAX_LINES = 400


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer(module: str) -> str:
    """The package (or top-level module) of ``RANKS`` that ``module`` belongs to."""
    while module not in RANKS:
        module = module.rpartition(".")[0]
    return module


def imported(path: Path) -> set[str]:
    """The arunner modules ``path`` imports, anywhere in it."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parent, *([node.module] if node.module else [])])
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return {module for module in found if module.split(".")[0] == "arunner"}


def modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


class Layers(SimpleTestCase):
    def test_every_module_belongs_to_a_layer(self):
        for path in modules():
            with self.subTest(path=path.name):
                self.assertIn(layer(module_name(path)), RANKS)

    def test_no_module_imports_from_its_own_rank_or_above(self):
        upward = []
        for path in modules():
            own = layer(module_name(path))
            for target in imported(path):
                other = layer(target)
                if other != own and RANKS[other] >= RANKS[own]:
                    upward.append(f"{module_name(path)} imports {target}")
        self.assertEqual(upward, [])

    def test_the_public_names_import(self):
        from arunner.escapes import EscapedQueryError, LeakedWriteError, expected_refusals
        from arunner.testing import assert_num_queries, capture_on_commit_callbacks

        self.assertTrue(callable(arunner.timeout))
        self.assertEqual(arunner.AsyncDiscoverRunner.__module__, "arunner.runner")
        self.assertTrue(issubclass(LeakedWriteError, EscapedQueryError))
        for public in (expected_refusals, assert_num_queries, capture_on_commit_callbacks):
            self.assertTrue(callable(public))


class Sizes(SimpleTestCase):
    def test_no_module_is_over_400_lines(self):
        long = {
            module_name(path): count
            for path in modules()
            if (count := len(path.read_text().splitlines())) > MAX_LINES
        }
        self.assertEqual(long, {})
