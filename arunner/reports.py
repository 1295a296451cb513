"""One serialisable ``TestReport`` per test, built in the process that ran the test.

Reporters (JUnit XML, durations, last failures) need more than unittest's result lists: the
time a test took where it ran, where its method is, the full text of each problem, and what
a failing test printed. ``ReportRecorder`` builds the report from unittest's result events in
the process running the test. Under ``--parallel`` the worker ships it to the parent as one
more result event (``arunner.workers``), so reporters cannot tell a parallel run from a
serial one, which is the promise Django's own result replay makes.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import io
import linecache
import os
import sys
import traceback
import unittest
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from time import perf_counter  # bound at import: a test mocking time cannot distort durations
from types import CodeType
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol, TextIO

from .errors import ConfigurationError

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

    @property
    def failed(self) -> bool:
        return self.outcome in FAILED


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
        return _split_test_id(test_id)
    hook, _, rest = test_id.partition(" (")
    return (rest.rstrip(")") or hook), hook


def _split_test_id(test_id: str) -> tuple[str, str]:
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


class _Tee:
    """Passes writes through to the stream it replaces, and keeps a copy."""

    def __init__(self, target: TextIO) -> None:
        self.target = target
        self.copy = io.StringIO()

    def write(self, text: str) -> int:
        if self.copy.tell() < OUTPUT_LIMIT:
            self.copy.write(text)
        return self.target.write(text)

    def writelines(self, lines: Iterable[str]) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        self.target.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.target, name)

    def text(self) -> str:
        value = self.copy.getvalue()
        return value if len(value) < OUTPUT_LIMIT else value + "\n[output cut]\n"


_RANK = {outcome: rank for rank, outcome in enumerate(OUTCOMES)}


class _Problems:
    """What the running test's result events have said against it so far: made by the first
    of them, so a test that passes builds nothing."""

    __slots__ = ("entry", "failure", "outcome", "problems", "raised")

    def __init__(self) -> None:
        self.outcome = "passed"
        self.problems: list[Problem] = []
        #: The exceptions reported against the test, so one reported twice counts once.
        self.raised: list[BaseException] = []
        #: The first error or failure (its index in ``problems``), and its entry in the
        #: result's ``errors`` / ``failures`` list, which later problems of arunner's join.
        self.failure: tuple[BaseException, int] | None = None
        self.entry: tuple[list[Any], int] | None = None

    def note(self, outcome: str, problem: Problem | None, raised: BaseException | None) -> None:
        if _RANK[outcome] > _RANK[self.outcome]:
            self.outcome = outcome
        if problem is not None:
            self.problems.append(problem)
        if raised is not None:
            self.raised.append(raised)
            if self.failure is None and problem is not None and problem.kind != "skipped":
                self.failure = raised, len(self.problems) - 1

    def join_failure(self, note: str) -> None:
        """Add ``note`` to the first failure's problem, its exception and its entry."""
        assert self.failure is not None
        raised, index = self.failure
        raised.add_note(note)
        problem = self.problems[index]
        self.problems[index] = replace(problem, text=f"{problem.text}{note}\n")
        if self.entry is not None:
            entries, position = self.entry
            entry = entries[position]
            if isinstance(entry[1], str):
                entries[position] = (entry[0], f"{entry[1]}{note}\n", *entry[2:])


def _is_arunners(raised: BaseException) -> bool:
    """True for the problems arunner finds in a test (refused SQL, leftover work, ...)."""
    return type(raised).__module__.partition(".")[0] == __name__.partition(".")[0]


def _same(raised: BaseException, seen: BaseException) -> bool:
    """One problem told twice: a refusal is raised in the thread that made the call, and
    again, as a copy, at the end of the test (in case that thread swallowed it)."""
    return type(raised) is type(seen) and raised.args == seen.args


class ReportRecorder(ResultMixinBase):
    """Result mixin: a ``TestReport`` per test (and per class/module-level error), handed to
    ``report``. ``records = False`` makes it a pure receiver, for the parent of workers;
    ``passes = False`` leaves out the reports of tests that passed, which no reporter reads."""

    records: bool = True
    report_sink: Callable[[TestReport], None] | None = None
    #: Whether a test that a second Ctrl-C (or SIGTERM) stopped is an error: it did not pass,
    #: though unittest would count it as run with nothing against it. Not under ``--pdb``,
    #: whose ``addError`` would open the debugger on the interruption.
    interruption_fails: bool = False

    def __init__(
        self, *args: Any, details: bool = False, passes: bool = True, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.details = details
        self.passes = passes
        #: The test between its ``startTest`` and its ``stopTest``, when it was started, what
        #: was said against it, and (``details``) the streams teed while it runs.
        self._running: Any = None
        self._start_time = 0.0
        self._problems: _Problems | None = None
        self._tees: tuple[_Tee, _Tee] | None = None

    def report(self, test: Any, report: TestReport) -> None:
        if self.report_sink is not None:
            self.report_sink(report)

    def arunnerReport(self, test: Any, report: TestReport) -> None:
        """A report a ``--parallel`` worker built and sent."""
        self.report(test, report)

    def startTest(self, test: Any) -> None:
        super().startTest(test)
        if self.records:
            self._running = test
            self._start_time = perf_counter()
            if self.details:
                self._tees = (_Tee(sys.stdout), _Tee(sys.stderr))
                sys.stdout, sys.stderr = self._tees

    def stopTest(self, test: Any) -> None:
        if self._running is test:
            if self.interruption_fails:
                interrupted = sys.exc_info()
                if isinstance(interrupted[1], KeyboardInterrupt):
                    self.addError(test, interrupted)
            self._running = None
            problems, self._problems = self._problems, None
            outcome = "passed" if problems is None else problems.outcome
            out = err = ""
            if self._tees is not None:
                tees, self._tees = self._tees, None
                out, err = self._restore_streams(tees, outcome)
            if problems is not None or self.passes:
                duration = perf_counter() - self._start_time
                noted = problems.problems if problems is not None else []
                self.report(
                    test, self._build(test, outcome, duration, noted, out, err, self.details)
                )
        super().stopTest(test)

    @staticmethod
    def _restore_streams(tees: tuple[_Tee, _Tee], outcome: str) -> tuple[str, str]:
        """Put back the streams ``startTest`` teed; return what a failing test printed."""
        out_tee, err_tee = tees
        if sys.stdout is out_tee:
            sys.stdout = out_tee.target
        if sys.stderr is err_tee:
            sys.stderr = err_tee.target
        if outcome in FAILED:
            return out_tee.text(), err_tee.text()
        return "", ""

    def _note(
        self,
        test: Any,
        outcome: str,
        problem: Problem | None = None,
        raised: BaseException | None = None,
    ) -> None:
        if not self.records:
            return
        if test is self._running:
            if self._problems is None:
                self._problems = _Problems()
            self._problems.note(outcome, problem, raised)
        else:  # an error outside any test: setUpClass, tearDownModule, ...
            problems = [problem] if problem else []
            self.report(test, self._build(test, outcome, 0.0, problems, "", "", self.details))

    def _joined(self, test: Any, err: Any) -> bool:
        """True when this error of the running test is already told: the same exception
        again (arunner re-raises at the test's end what was refused during it), or one of
        arunner's problems found after the test had failed, which then joins the first
        failure's block as a note. A test fails once: one letter, one block, one element.
        """
        problems = self._problems
        if problems is None or test is not self._running:
            return False
        raised = err[1]
        if any(raised is seen for seen in problems.raised):
            return True
        if raised is None or not _is_arunners(raised):
            return False
        if any(_same(raised, seen) for seen in problems.raised):
            return True
        if problems.failure is None:
            return False
        text = describe_error(err)[2].rstrip("\n")
        problems.join_failure(f"\nAt the end of the test, arunner also found:\n{text}")
        return True

    def _placed(self, entries: list[Any]) -> None:
        """After unittest's result added the entry of the running test's first failure to
        ``entries`` (``errors`` or ``failures``): remember where, for ``_joined``. A
        ``--parallel`` worker's result keeps no entries (Django's ``DummyList``): the note on
        the exception, pickled at the test's end, takes the problem to the parent."""
        problems = self._problems
        if (
            problems is not None
            and problems.failure is not None
            and problems.entry is None
            and isinstance(entries, list)
        ):
            problems.entry = entries, len(entries) - 1

    def _told(self, test: Any, heading: str) -> None:
        """A failure of ``test`` was added to the result (``heading``: FAIL, ERROR, ...)."""

    @staticmethod
    def _build(
        test: Any,
        outcome: str,
        duration: float,
        problems: list[Problem],
        out: str,
        err: str,
        details: bool,
    ) -> TestReport:
        if isinstance(test, unittest.TestCase):
            test_id = test.id()
            classname, name = _split_test_id(test_id)
        else:
            classname, name = split_id(test)
            test_id = classname
        file, line = locate(test) if details else (None, None)
        return TestReport(
            test_id, classname, name, file, line, outcome, duration, tuple(problems), out, err
        )

    def _problem(self, kind: str, err: Any, prefix: str = "") -> Problem:
        type_name, message, text = describe_error(err)
        return Problem(kind, prefix + message, type_name, text)

    def addFailure(self, test: Any, err: Any) -> None:
        if self._joined(test, err):
            return
        self._note(test, "failed", self._problem("failure", err), err[1])
        super().addFailure(test, err)
        self._placed(self.failures)
        self._told(test, "FAIL")

    def addError(self, test: Any, err: Any) -> None:
        if self._joined(test, err):
            return
        self._note(test, "error", self._problem("error", err), err[1])
        super().addError(test, err)
        self._placed(self.errors)
        self._told(test, "ERROR")

    def addSkip(self, test: Any, reason: str) -> None:
        self._note(test, "skipped", Problem("skipped", reason, "unittest.case.SkipTest", reason))
        super().addSkip(test, reason)

    def addExpectedFailure(self, test: Any, err: Any) -> None:
        self._note(test, "xfailed", self._problem("skipped", err, "expected failure: "), err[1])
        super().addExpectedFailure(test, err)

    def addUnexpectedSuccess(self, test: Any) -> None:
        problem = Problem(
            "failure", "unexpected success", "", "The test is marked expectedFailure but passed."
        )
        self._note(test, "xpassed", problem)
        super().addUnexpectedSuccess(test)
        self._told(test, "UNEXPECTED SUCCESS")

    def addSubTest(self, test: Any, subtest: Any, err: Any) -> None:
        if err is not None:
            if self._joined(test, err):
                return
            failure = issubclass(err[0], test.failureException)
            kind, outcome = ("failure", "failed") if failure else ("error", "error")
            self._note(test, outcome, self._problem(kind, err, f"{subtest}: "), err[1])
        super().addSubTest(test, subtest, err)
        if err is not None:
            self._placed(self.failures if failure else self.errors)
            self._told(subtest, "FAIL" if failure else "ERROR")
