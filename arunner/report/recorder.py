"""``ReportRecorder``: the result mixin that builds one ``TestReport`` (``model``) per test.

It builds the report from unittest's result events in the process running the test: the
time the test took there, where its method is, the full text of each problem, and what a
failing test printed (teed while it runs). Under ``--parallel`` the worker ships the report
to the parent as one more result event (``arunner.parallel.workers``), so reporters cannot
tell a parallel run from a serial one.
"""

from __future__ import annotations

import io
import sys
import unittest
from collections.abc import Callable, Iterable
from dataclasses import replace
from time import perf_counter  # bound at import: a test mocking time cannot distort durations
from typing import Any, TextIO

from arunner.report.model import (
    FAILED,
    OUTCOMES,
    OUTPUT_LIMIT,
    Attempt,
    Problem,
    ResultMixinBase,
    TestReport,
    describe_error,
    locate,
    split_id,
    split_test_id,
)


class Tee:
    """Stands in for ``sys.stdout`` or ``sys.stderr`` during a test: keeps a copy of what the
    test prints (for the report), and passes it on to the stream it replaces unless told not
    to (a run ``--reruns`` may repeat, under ``--buffer``)."""

    def __init__(self, target: TextIO, passes_on: bool = True) -> None:
        self.target = target
        self.passes_on = passes_on
        self.copy = io.StringIO()

    def write(self, text: str) -> int:
        if self.copy.tell() < OUTPUT_LIMIT:
            self.copy.write(text)
        return self.target.write(text) if self.passes_on else len(text)

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
        self._tees: tuple[Tee, Tee] | None = None
        #: Set by ``--reruns`` before the test's reported run: the test, its earlier failed
        #: runs, and the reported run's own duration when it is replayed after the fact.
        self._reruns: tuple[Any, tuple[Attempt, ...], float | None] | None = None

    def arunnerReruns(
        self, test: Any, reruns: tuple[Attempt, ...], duration: float | None = None
    ) -> None:
        """``--reruns`` (``arunner.suite.reruns``): the run of ``test`` this result sees next
        is the one reported, after the failed runs ``reruns``; ``duration`` is its time when
        that run is replayed here after it ran (None: it runs now, timed here)."""
        self._reruns = (test, reruns, duration)

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
                self._tees = (Tee(sys.stdout), Tee(sys.stderr))
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
            reruns: tuple[Attempt, ...] = ()
            duration = perf_counter() - self._start_time
            if self._reruns is not None and self._reruns[0] is test:
                _, reruns, replayed = self._reruns
                duration = duration if replayed is None else replayed
            self._reruns = None
            out = err = ""
            if self._tees is not None:
                tees, self._tees = self._tees, None
                out, err = self._restore_streams(tees, outcome)
            if problems is not None or self.passes or reruns:
                noted = problems.problems if problems is not None else []
                built = self._build(test, outcome, duration, noted, out, err, self.details)
                self.report(test, built._replace(reruns=reruns) if reruns else built)
        super().stopTest(test)

    @staticmethod
    def _restore_streams(tees: tuple[Tee, Tee], outcome: str) -> tuple[str, str]:
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
            classname, name = split_test_id(test_id)
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
