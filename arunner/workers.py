"""``--parallel`` workers: build each test's report where the test ran, and send it along.

Django's ``ParallelTestSuite`` replays a worker's result events on the parent's result by
name (``getattr(result, event)``). The worker's result here records a ``TestReport`` per test,
timed in the worker, and adds it to those events as ``arunnerReport``; the parent's result
has a method of that name (``ReportRecorder.arunnerReport``).
"""

from __future__ import annotations

import functools
import unittest
from typing import Any

from django.test.runner import RemoteTestResult, RemoteTestRunner

from . import parallel
from .reports import EVENT, ReportRecorder, TestReport


class RemoteResult(ReportRecorder, RemoteTestResult):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        stream = parallel.event_stream()
        if stream is not None:
            self.events = stream
        self._position = -1
        self._started: Any = None
        self._holder: str | None = None

    @property
    def test_index(self) -> int | str:
        """The test's position in the batch, which names it to the parent.

        Django takes ``testsRun - 1``, but from Python 3.12 a test skipped by a decorator
        never starts (``testsRun`` stays), so its skip, and every later test's events, would
        be told of the test before it. A class- or module-level skip is no test of the batch:
        it goes by its description (``AsyncParallelTestSuite.handle_event``).
        """
        return self._position if self._holder is None else self._holder

    def startTest(self, test: Any) -> None:
        self._position += 1
        self._started = test
        super().startTest(test)

    def stopTest(self, test: Any) -> None:
        super().stopTest(test)
        self._started = None

    def addSkip(self, test: Any, reason: str) -> None:
        if not isinstance(test, unittest.TestCase):
            self._holder = str(test)
            try:
                super().addSkip(test, reason)
            finally:
                self._holder = None
            return
        if test is not self._started:
            self._position += 1  # skipped before it started
        super().addSkip(test, reason)

    def __getstate__(self) -> dict[str, Any]:
        """Without the running test: Django pickles a failed subtest (and so its test, which
        can reach this result) to check it can be sent; the test must not lead back here."""
        state = dict(super().__getstate__())
        state.pop("_pending", None)
        state.pop("_started", None)
        return state

    def report(self, test: Any, report: TestReport) -> None:
        # Sent before ``stopTest`` (appended by the base class after this), so the parent
        # has the report by the time it sees the test end.
        self.events.append((EVENT, max(self._position, 0), report))


def runner_class(details: bool) -> Any:
    """What ``ParallelTestSuite.runner_class`` should be: picklable, so spawned workers too."""
    resultclass = functools.partial(RemoteResult, details=details)
    return functools.partial(RemoteTestRunner, resultclass=resultclass)


def install(suite: Any, details: bool) -> bool:
    """Make a ``ParallelTestSuite``'s workers send reports; False when its runner class is
    a custom one that arunner leaves alone."""
    if getattr(suite, "runner_class", None) is not RemoteTestRunner:
        return False
    suite.runner_class = runner_class(details)
    return True
