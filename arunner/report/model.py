"""One serialisable ``TestReport`` per test, built in the process that ran the test.

Reporters (JUnit XML, durations, last failures) need more than unittest's result lists: the
time a test took where it ran, where its method is, the full text of each problem, and what
a failing test printed. ``ReportRecorder`` builds the report from unittest's result events in
the process running the test. Under ``--parallel`` the worker ships it to the parent as one
more result event (``arunner.parallel.workers``), so reporters cannot tell a parallel run from a
serial one, which is the promise Django's own result replay makes.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import linecache
import os
import sys
import traceback
import unittest
from collections.abc import Iterable
from dataclasses import dataclass
from types import CodeType
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol, TextIO

from arunner.core.errors import ConfigurationError

#: The result event a worker sends a report with; the parent's result has a method so named.
EVENT = "arunnerReport"

#: Outcomes, the worse the later: a test's outcome is the worst of its events.
OUTCOMES = ("passed", "skipped", "xfailed", "xpassed", "failed", "error")
FAILED = frozenset({"xpassed", "failed", "error"})

#: Output kept per stream of a failing test; more is cut, saying so.
OUTPUT_LIMIT = 1_000_000

if TYPE_CHECKING:
    #: The result mixins' base for the type checker: unittest's result, whose methods their
    #: ``super()`` calls reach. At run time it is ``object``, so those calls go to whichever
    #: result class follows the mixin (unittest's, or Django's ``RemoteTestResult``).
    ResultMixinBase = unittest.TestResult
else:
    ResultMixinBase = object


@dataclass(frozen=True)
class Problem:
    """A failure, error or skip of a test (or of one of its subtests)."""

    kind: str  # "failure", "error" or "skipped"
    message: str  # one line
    type: str  # the exception's qualified name, "" when there is none
    text: str  # the traceback, or the skip reason


class Attempt(NamedTuple):
    """An earlier run of a test that ``--reruns`` ran again: what failed it, how long it
    took, what it printed."""

    problems: tuple[Problem, ...]
    duration: float
    stdout: str = ""
    stderr: str = ""


class TestReport(NamedTuple):
    """What reporters get for one test. A named tuple: one is built for every test, and a
    frozen dataclass costs several times as much to build."""

    test_id: str
    classname: str
    name: str
    file: str | None
    line: int | None
    outcome: str
    duration: float
    problems: tuple[Problem, ...] = ()
    stdout: str = ""
    stderr: str = ""
    #: The earlier runs of a test ``--reruns`` ran again, each of which failed.
    reruns: tuple[Attempt, ...] = ()

    @property
    def failed(self) -> bool:
        return self.outcome in FAILED

    @property
    def flaky(self) -> bool:
        """Failed, then did not fail on a rerun."""
        return bool(self.reruns) and not self.failed


class Reporter(Protocol):
    """What the result hands every report to; created only when its option is given."""

    @property
    def wants_details(self) -> bool:
        """Whether this reporter needs the details that cost time on every test: where each
        test is defined (file, line) and what failing tests printed."""

    @property
    def wants_passes(self) -> bool:
        """Whether it needs a report for every test, or only for those that did not pass:
        building one costs every passing test, and by default no reporter reads it."""

    def add(self, report: TestReport) -> None: ...

    def summary(self, stream: TextIO, verbosity: int) -> None:
        """Print to the terminal after the failure details, before ``Ran N tests``."""

    def close(self) -> None:
        """Write files; also runs when the run is interrupted."""


class Reporters:
    """The enabled reporters of one run, fed and closed together."""

    def __init__(self, reporters: Iterable[Reporter]) -> None:
        self.active = list(reporters)

    @property
    def wants_details(self) -> bool:
        return any(r.wants_details for r in self.active)

    @property
    def wants_passes(self) -> bool:
        return any(r.wants_passes for r in self.active)

    def add(self, report: TestReport) -> None:
        for reporter in self.active:
            reporter.add(report)

    def summary(self, stream: TextIO, verbosity: int) -> None:
        for reporter in self.active:
            reporter.summary(stream, verbosity)

    def close(self) -> None:
        """Close every reporter, even when one fails; a file that cannot be written is a
        configuration error (exit 2), reported after the others are written."""
        failed: list[OSError] = []
        for reporter in self.active:
            try:
                reporter.close()
            except OSError as exc:
                failed.append(exc)
        if failed:
            first = failed[0]
            raise ConfigurationError(
                f"cannot write {first.filename or 'a report'}: {first.strerror or first}",
                hint="check the path given to --junit-xml / --durations-file",
            ) from first


def split_id(test: Any) -> tuple[str, str]:
    """(classname, name): ``app.tests.Case``, ``test_x``; for a class/module-level error
    (``setUpClass (app.tests.Case)``) the class or module, and the hook's name."""
    test_id = test.id()
    if isinstance(test, unittest.TestCase):
        return split_test_id(test_id)
    hook, _, rest = test_id.partition(" (")
    return (rest.rstrip(")") or hook), hook


def split_test_id(test_id: str) -> tuple[str, str]:
    classname, _, name = test_id.rpartition(".")
    return classname, name.split(" ", 1)[0]


def _relative(path: str) -> str:
    relative = os.path.relpath(path)
    return path if relative.startswith("..") else relative


def _def_line(code: CodeType) -> int:
    """The line of ``def``: a decorated function's code starts at its first decorator."""
    for line in range(code.co_firstlineno, code.co_firstlineno + 50):
        if linecache.getline(code.co_filename, line).lstrip().startswith(("def ", "async def ")):
            return line
    return code.co_firstlineno


def locate(test: Any) -> tuple[str | None, int | None]:
    """File (relative to the current directory when under it) and line of the test method,
    or of the class or module a class/module-level error belongs to."""
    classname, name = split_id(test)
    if isinstance(test, unittest.TestCase):
        return _locate_method(type(test), name)  # type: ignore[arg-type]  # classes are hashable: mypy#11470
    module, _, attribute = classname.rpartition(".")
    for module_name, attribute_name in ((module, attribute), (classname, None)):
        try:
            imported = importlib.import_module(module_name) if module_name else None
        except Exception:  # a location is a nicety, never a crash
            continue
        target = getattr(imported, attribute_name, None) if attribute_name else imported
        if target is not None:
            return _source_of(target)
    return None, None


def locate_id(classname: str, name: str) -> tuple[str | None, int | None]:
    """``locate`` from a report's names, for a reporter that has no test object (a
    ``--parallel`` worker's report): the method ``name`` of class ``classname``, else the
    class, else the module (a class/module-level error). Only modules already imported."""
    module_name, _, class_name = classname.rpartition(".")
    module = sys.modules.get(module_name)
    cls = getattr(module, class_name, None)
    if isinstance(cls, type):
        return _locate_method(cls, name)
    module = sys.modules.get(classname)
    return _source_of(module) if module is not None else (None, None)


@functools.cache
def _locate_method(cls: type, name: str) -> tuple[str | None, int | None]:
    """Cached: a report is built for every test, and a class has many."""
    return _source_of(getattr(cls, name, None) or cls)


def _source_of(target: Any) -> tuple[str | None, int | None]:
    try:
        target = inspect.unwrap(target)
        code = getattr(target, "__code__", None)
        if code is not None:
            return _relative(code.co_filename), _def_line(code)
        file = inspect.getsourcefile(target)
        line = 1 if inspect.ismodule(target) else inspect.getsourcelines(target)[1]
        return (_relative(file) if file else None), line
    except (TypeError, OSError, ValueError):
        return None, None


def describe_error(err: Any) -> tuple[str, str, str]:
    """(type, one-line message, traceback text), without the frames of modules that set
    ``__unittest`` (unittest's own, arunner's), as unittest's report leaves them out."""
    exctype, value, tb = err
    frames = []
    while tb is not None:
        if "__unittest" not in tb.tb_frame.f_globals:
            frames.append((tb.tb_frame, tb.tb_lineno))
        tb = tb.tb_next
    described = traceback.TracebackException(exctype, value, None)
    described.stack = traceback.StackSummary.extract(iter(frames))
    text = "".join(described.format())
    qualified = f"{exctype.__module__}.{exctype.__qualname__}"
    if exctype.__module__ == "builtins":
        qualified = exctype.__qualname__
    lines = str(value).strip().split("\n")
    message = f"{exctype.__qualname__}: {lines[0]}" if lines else exctype.__qualname__
    return qualified, message, text
