"""``--reruns N``: a test that fails or errors runs again, up to N more times.

A rerun is more than a guard's begin and end: the test itself runs again, through the same
``test(result)`` call that unittest's suite loop makes, so Django's per-test transaction
(``_pre_setup`` / ``_post_teardown``) and arunner's guards (a fresh session, and loop when the
test has one of its own) go around every run. The suite stands a ``Rerunning`` in for each
test; unittest's loop handles class and module fixtures by ``test.__class__``, which it
answers with the test's class, so those run once, and are never rerun.

Each run but the last allowed one runs into an ``_AttemptResult``, which keeps the events
unittest sends. A run that does not fail is replayed on the real result, with the failed runs
before it (``ReportRecorder.arunnerReruns``): the result, the terminal, a ``--parallel``
worker's hand-over see one run of the test, the one that counts. The last allowed run goes to
the real result directly. Before a rerun the instance gets back the state it had before its
first run (unittest reuses the instance; ``setUp`` would not undo what the test set on it).
"""

from __future__ import annotations

import sys
import time
import unittest
from collections.abc import Iterable
from time import perf_counter
from typing import Any

from arunner.core import inventory
from arunner.core.options import RunConfig
from arunner.report.model import Attempt, Problem, describe_error
from arunner.report.recorder import Tee
from arunner.suite.runcontext import RunContext, guards_ended

__unittest = True


def wrap(tests: Iterable[Any], config: RunConfig, context: RunContext) -> list[Any]:
    """The suite's tests, each test case in a ``Rerunning`` when ``--reruns`` asks for it
    (not unittest's stand-in for a module that does not import: it would fail every time;
    nor one already standing in, in a suite run twice)."""
    if config.reruns <= 0:
        return list(tests)
    return [
        Rerunning(test, config.reruns, config.reruns_delay, context)
        if type(test) is not Rerunning
        and isinstance(test, unittest.TestCase)
        and not isinstance(test, inventory.FAILED_TEST)
        else test
        for test in tests
    ]


def unwrapped(test: Any) -> Any:
    """The test case a suite item stands for."""
    return test.test if type(test) is Rerunning else test


def _state(values: dict[str, Any]) -> dict[str, Any]:
    """A copy of an instance's attributes, with its lists, dicts and sets copied one level
    (unittest's ``_cleanups``, ``_type_equality_funcs`` are changed in place)."""
    return {
        name: value.copy() if type(value) in (list, dict, set) else value
        for name, value in values.items()
    }


class Rerunning:
    """Stands in the suite for one test, which it runs again while it fails."""

    __slots__ = ("context", "delay", "fresh", "reruns", "test")

    def __init__(
        self, test: unittest.TestCase, reruns: int, delay: float, context: RunContext | None
    ) -> None:
        self.test = test
        self.reruns = reruns
        self.delay = delay
        #: The run whose guards begin again before each rerun (None: a bare unittest suite).
        self.context = context
        #: The instance's attributes before its first run.
        self.fresh = _state(vars(test))

    @property  # type: ignore[misc]  # unittest's suite loop reads the class of the test from here
    def __class__(self) -> type:
        return type(self.test)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.test, name)

    def __str__(self) -> str:
        return str(self.test)

    def __repr__(self) -> str:
        return repr(self.test)

    def __call__(self, result: unittest.TestResult) -> Any:
        test = self.test
        failed: list[Attempt] = []
        for number in range(self.reruns):
            if number:
                self._again()
            attempt = _AttemptResult(buffer=bool(getattr(result, "buffer", False)))
            try:
                test(attempt)
            except BaseException:
                attempt.replay(test, result, tuple(failed))
                raise
            # A test whose guards did not end (its set-up failed before unittest ran it) is
            # not begun again over them.
            if not attempt.failed or result.shouldStop or not guards_ended(test):
                attempt.replay(test, result, tuple(failed))
                return result
            failed.append(attempt.summary())
        self._again()
        hook = getattr(result, "arunnerReruns", None)
        if hook is not None:
            hook(test, tuple(failed))
        return test(result)

    def _again(self) -> None:
        """Before a rerun: the instance as it was before its first run, its guards begun."""
        if self.delay:
            time.sleep(self.delay)
        state = vars(self.test)
        state.clear()
        state.update(_state(self.fresh))
        if self.context is not None:
            self.context.before_test(self.test)


class _AttemptResult(unittest.TestResult):
    """The result of one run that may be rerun: keeps unittest's events in order, to replay
    on the real result if the run counts, and what failed it if it does not."""

    def __init__(self, buffer: bool) -> None:
        super().__init__()
        self.hide_output = buffer
        self.events: list[tuple[str, tuple[Any, ...]]] = []
        self.problems: list[Problem] = []
        self._seen: list[BaseException] = []
        self._started = 0.0
        self.duration = 0.0
        self._streams: tuple[Tee, Tee] | None = None
        self.output = ("", "")

    @property
    def failed(self) -> bool:
        return bool(self.problems)

    def _event(self, name: str, *args: Any) -> None:
        self.events.append((name, args))

    def _problem(self, kind: str, err: Any, prefix: str = "") -> None:
        if any(err[1] is seen for seen in self._seen):
            return
        self._seen.append(err[1])
        type_name, message, text = describe_error(err)
        self.problems.append(Problem(kind, prefix + message, type_name, text))

    def startTest(self, test: Any) -> None:
        self._event("startTest", test)
        self._started = perf_counter()
        out = Tee(sys.stdout, not self.hide_output)
        err = Tee(sys.stderr, not self.hide_output)
        self._streams = out, err
        sys.stdout, sys.stderr = out, err

    def stopTest(self, test: Any) -> None:
        self.duration = perf_counter() - self._started
        if self._streams is not None:
            out, err = self._streams
            self._streams = None
            if sys.stdout is out:
                sys.stdout = out.target
            if sys.stderr is err:
                sys.stderr = err.target
            self.output = out.copy.getvalue(), err.copy.getvalue()
        self._event("stopTest", test)

    def addSuccess(self, test: Any) -> None:
        self._event("addSuccess", test)

    def addFailure(self, test: Any, err: Any) -> None:
        self._problem("failure", err)
        self._event("addFailure", test, err)

    def addError(self, test: Any, err: Any) -> None:
        self._problem("error", err)
        self._event("addError", test, err)

    def addSkip(self, test: Any, reason: str) -> None:
        self._event("addSkip", test, reason)

    def addExpectedFailure(self, test: Any, err: Any) -> None:
        self._event("addExpectedFailure", test, err)

    def addUnexpectedSuccess(self, test: Any) -> None:
        self._event("addUnexpectedSuccess", test)

    def addSubTest(self, test: Any, subtest: Any, err: Any) -> None:
        if err is not None:
            kind = "failure" if issubclass(err[0], test.failureException) else "error"
            self._problem(kind, err, f"{subtest}: ")
        self._event("addSubTest", test, subtest, err)

    def addDuration(self, test: Any, elapsed: float) -> None:
        self._event("addDuration", test, elapsed)

    def summary(self) -> Attempt:
        return Attempt(tuple(self.problems), self.duration, *self.output)

    def replay(self, test: Any, result: unittest.TestResult, failed: tuple[Attempt, ...]) -> None:
        """Tell ``result`` this run's events, as if it had watched it, after the failed runs
        before it, with the run's own duration (the replay takes none); what the run printed
        behind ``--buffer`` is printed again inside it, so the result's own buffer holds it."""
        hook = getattr(result, "arunnerReruns", None)
        if hook is not None:
            hook(test, failed, self.duration)
        for name, args in self.events:
            method = getattr(result, name, None)
            if method is not None:
                method(*args)
            if name == "startTest" and self.hide_output:
                sys.stdout.write(self.output[0])
                sys.stderr.write(self.output[1])
