"""The emergency end of a run: a test passed its time limit and cannot be stopped.

The watchdog (``watchdog``) calls ``EmergencyEnd`` from its own thread as its last resort.
In the main process the test is counted as an error, the reports are written (``at_end_run``),
the test databases dropped (unless ``--keepdb``), the closing lines printed as the run would
have, and the process exits with status 1. A ``--parallel`` worker instead hands its batch
over to the parent (which reports the test and goes on) and exits.
"""

from __future__ import annotations

import contextlib
import os
import sys
import unittest
from collections.abc import Callable, Iterable

from django.db import connections
from django.db.backends.base.base import BaseDatabaseWrapper

from arunner.core.errors import TestTimeoutError
from arunner.timeouts import dbinterrupt
from arunner.timeouts.watchdog import Armed

__unittest = True

#: What must still happen when the watchdog ends a run (reports written, for one).
_at_end_run: list[Callable[[], None]] = []


def at_end_run(callback: Callable[[], None]) -> Callable[[], None]:
    """Register ``callback`` for an emergency end of the run; returns its unregistration."""
    _at_end_run.append(callback)
    return lambda: _at_end_run.remove(callback)


def end_run(report: str, finish: Callable[[], None], ending: str = "the run") -> None:
    """The last resort, on the watchdog thread: the test's thread cannot be stopped."""
    sys.stderr.write(f"\narunner: the test could not be cancelled; ending {ending}.\n{report}\n")
    try:
        for callback in list(_at_end_run):
            with contextlib.suppress(Exception):
                callback()
        finish()
    finally:
        sys.stderr.flush()
        sys.stdout.flush()
        os._exit(1)


def drop_test_databases(wrappers: list[BaseDatabaseWrapper], keepdb: bool) -> None:
    """What teardown would have done, from the watchdog thread (test databases only)."""
    if keepdb:
        return
    for connection in wrappers:
        dbinterrupt.drop_test_database(connection)


Counts = Callable[[unittest.TestResult], tuple[int, int, int]]


class EmergencyEnd:
    """The watchdog's emergency for one run of a suite.

    ``counts`` is the closing line's (passed, failed, skipped) of a result; ``hand_over``,
    in a ``--parallel`` worker, tells the parent what the worker was running. Both are passed
    in, because they belong to layers beside and above this one.
    """

    def __init__(
        self,
        result: unittest.TestResult,
        test_aliases: Iterable[str],
        keepdb: bool,
        counts: Counts,
        hand_over: Callable[[Armed], None] | None = None,
    ) -> None:
        self.result = result
        self.test_aliases = sorted(test_aliases)
        self.keepdb = keepdb
        self.counts = counts
        self.hand_over = hand_over

    def __call__(self, armed: Armed) -> None:
        """Count the test, clean up, exit."""
        hand_over = self.hand_over
        if hand_over is not None:
            ending = "this --parallel worker; the run goes on"
            end_run(armed.report or "", lambda: hand_over(armed), ending)
            return
        recorded = self._recorded()
        _record_timeout(self.result, armed, recorded)
        passed, failed, skipped = self.counts(self.result)
        if armed.test_id not in self._recorded():
            passed, failed = max(0, passed - 1), failed + 1
        line = f"{passed} passed, {failed} failed, {skipped} skipped"
        wrappers = [connections[alias] for alias in self.test_aliases]

        def finish() -> None:
            drop_test_databases(wrappers, self.keepdb)
            sys.stderr.write(f"\nRan {self.result.testsRun} tests\n\nFAILED\n\n{line}\n")

        end_run(armed.report or "", finish)

    def _recorded(self) -> set[str]:
        """The ids of the tests the result holds a failure or an error of."""
        return {test.id() for test, *_ in (*self.result.errors, *self.result.failures)}


def _record_timeout(result: unittest.TestResult, armed: Armed, recorded: set[str]) -> None:
    """Before the last resort ends the run: the test that could not be stopped ends as an
    error with its report (unless it has one already, the timeout delivered but swallowed),
    so the reports written on the way out (JUnit) have it too."""
    test = getattr(result, "_running", None)
    if test is None or test.id() != armed.test_id:
        return
    error = TestTimeoutError(armed.report)
    with contextlib.suppress(Exception):
        if armed.test_id not in recorded:
            result.addError(test, (type(error), error, None))  # type: ignore[arg-type]  # never raised, so no traceback; unittest takes None
        result.stopTest(test)
