"""Collection errors: a label that matches nothing, a test module that does not import.

unittest's loader turns both into a stand-in test that fails with the import traceback, and
Django creates the test databases and runs everything else first. For CI that buries a
configuration mistake in a test failure. arunner stops before any database is created
(``ConfigurationError``, exit 2) with one line per problem, ``file:line:col`` for a syntax
error, and keeps the traceback for ``--traceback``. ``--continue-on-collection-errors``
gives DiscoverRunner's way back on request (a large suite with one module that needs a newer
Python): arunner prints the same lines and runs what loaded, stand-ins included.
"""

from __future__ import annotations

import importlib
import os
import traceback
import unittest
from collections.abc import Iterable
from typing import Any

from django.test.utils import iter_test_cases

from arunner.core import inventory
from arunner.core.errors import ConfigurationError

#: The stand-in test unittest's loader makes for what it cannot import or find. Private, as
#: Django's own ``reorder_tests`` uses it; the canary is in tests/test_cli_units.py.
FAILED_TEST = inventory.FAILED_TEST
_FAILED_PREFIX = inventory.FAILED_TEST_PREFIX

HINT = "fix the module or the label; --traceback shows the import's traceback"


class CollectionError(ConfigurationError):
    """What stopped the loading of tests; ``cause`` is the first import error, if any."""


def _relative(path: str) -> str:
    relative = os.path.relpath(path)
    return path if relative.startswith("..") else relative


def describe_import_error(module: str, exc: BaseException) -> str:
    """One line: where the module fails to import, and why."""
    if isinstance(exc, SyntaxError):
        where = f"{_relative(exc.filename or module)}:{exc.lineno}:{exc.offset}"
        return f"{where}: {type(exc).__name__}: {exc.msg}"
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if not f.filename.startswith("<")]
    where = f"{_relative(frames[-1].filename)}:{frames[-1].lineno}: " if frames else ""
    message = " ".join(str(exc).split())
    return f"{where}cannot import test module {module!r}: {type(exc).__name__}: {message}"


def _import(module: str) -> BaseException | None:
    try:
        importlib.import_module(module)
    except Exception as exc:  # what the loader caught; re-raised for its details
        return exc
    return None


def _explain_label(label: str) -> tuple[str, BaseException | None]:
    """Why a dotted label found no tests: a missing module or attribute, or an import error."""
    parts = label.split(".")
    for end in range(len(parts), 0, -1):
        module = ".".join(parts[:end])
        exc = _import(module)
        missing = exc.name if isinstance(exc, ModuleNotFoundError) else None
        if missing is not None and (module == missing or module.startswith(missing + ".")):
            continue
        if exc is not None:
            return describe_import_error(module, exc), exc
        obj: Any = importlib.import_module(module)
        for attribute in parts[end:]:
            if not hasattr(obj, attribute):
                return f"label {label!r}: {obj.__name__!r} has no {attribute!r}", None
            obj = getattr(obj, attribute)
        return f"label {label!r} matches no tests", None
    if os.sep in label or "/" in label:
        return f"label {label!r} is not a directory, nor a module", None
    return f"label {label!r} matches no module, class, method or directory", None


def check_label(
    label: str, tests: unittest.TestSuite | None, explicit: bool, filtered: bool
) -> None:
    """Raise ``CollectionError`` when ``label`` loaded nothing but stand-ins, or nothing.

    ``explicit``: the label was given (Django's implicit ``.`` may find no tests);
    ``filtered``: ``-k`` patterns applied, so finding no tests is an answer, not a mistake.
    """
    found = list(iter_test_cases(tests)) if tests is not None else []
    failed = [t for t in found if isinstance(t, FAILED_TEST)]
    problems: list[tuple[str, BaseException | None]] = []
    if failed and not os.path.isdir(label) and len(failed) == len(found):
        problems.append(_explain_label(label))
    else:
        for test in failed:
            module = test.id().removeprefix(_FAILED_PREFIX)
            exc = _import(module)
            line = describe_import_error(module, exc) if exc else f"cannot load {module!r}"
            problems.append((line, exc))
    if not problems and not found and explicit and not filtered:
        problems.append(
            _explain_label(label)
            if not os.path.isdir(label)
            else (f"label {label!r}: no tests found in the directory", None)
        )
    raise_for(problems)


def rerun_label(test_id: str) -> str:
    """The label that loads a recorded failure again. A stand-in's ID (recorded under
    ``--continue-on-collection-errors``) names no test: its module is the label."""
    return test_id.removeprefix(_FAILED_PREFIX)


def continuing_note(error: CollectionError) -> str:
    """What ``--continue-on-collection-errors`` prints instead of stopping: each problem, and
    that its module is one failing test (unittest's stand-in) or that the label runs none."""
    return "\n".join(
        f"arunner: collection error (running the rest): {line}"
        for line in error.message.splitlines()
    )


def raise_for(problems: Iterable[tuple[str, BaseException | None]]) -> None:
    problems = list(problems)
    if not problems:
        return
    error = CollectionError("\n".join(line for line, _ in problems), hint=HINT)
    cause = next((exc for _, exc in problems if exc is not None), None)
    raise error from cause
