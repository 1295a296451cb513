"""``--parallel`` workers: their result, their number, and what they tell the parent.

Django's ``ParallelTestSuite`` replays a worker's result events on the parent's result by
name (``getattr(result, event)``). The worker's result here records a ``TestReport`` per test,
timed in the worker, and adds it to those events as ``arunnerReport``; the parent's result
has a method of that name (``ReportRecorder.arunnerReport``). Each test's events also go to
the parent as the test ends (``handoff``).

The workers share a table with the parent (``Workers``) so that a replacement for a lost
worker takes its number, and so its database clones (``arunner.parallel.parent`` says why).
"""

from __future__ import annotations

import ctypes
import functools
import multiprocessing
import multiprocessing.sharedctypes
import os
import unittest
from collections.abc import Callable
from pathlib import Path
from typing import Any

from django.test.runner import RemoteTestResult, RemoteTestRunner

from arunner.core import inventory, termination
from arunner.parallel.handoff import EventStream, Note
from arunner.report.model import EVENT, TestReport
from arunner.report.recorder import ReportRecorder
from arunner.report.remoteerrors import PortableErrors

__unittest = True

#: The counter value that tells the parent a worker failed to start (as Django 6.x does).
INIT_FAILED = -1000

#: A worker number's batch when it runs none.
IDLE = -1


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, and another user's
        pass
    return True


class Workers:
    """The table the parent shares with its workers: per worker number, the process that
    holds it and the batch it runs. The pool reaps a dead worker before it starts the
    replacement, so a dead holder's pid no longer answers."""

    def __init__(self, processes: int, notes: str) -> None:
        self.pids = multiprocessing.Array(ctypes.c_int, processes)
        self.batches = multiprocessing.Array(ctypes.c_int, [IDLE] * processes)
        self.notes = notes
        #: Set by the parent on a first Ctrl-C: each worker ends its running test, no other.
        self.stopping = multiprocessing.sharedctypes.RawValue(ctypes.c_bool, False)

    def take_dead_number(self) -> int | None:
        """In a starting worker: claim the number of a dead worker, with a note for the batch
        it was running if it left none. Called with the counter's lock held."""
        for slot, pid in enumerate(self.pids[:]):
            if pid and not _alive(pid):
                self.pids[slot] = os.getpid()
                batch, self.batches[slot] = self.batches[slot], IDLE
                if batch != IDLE:
                    report = f"The --parallel worker running it (pid {pid}) died before the "
                    report += "test ended: a crash, os._exit() or the OOM killer."
                    Note(batch, None, report, []).write(self.notes)
                return slot + 1
        return None

    def claim(self, number: int) -> None:
        if 0 < number <= len(self.pids):
            self.pids[number - 1] = os.getpid()

    def running(self, number: int, batch: int) -> None:
        if 0 < number <= len(self.batches):
            self.batches[number - 1] = batch


#: In a worker: the table above.
_workers: Workers | None = None


def in_worker() -> bool:
    """True in a worker of ``AsyncParallelTestSuite`` (never in the parent)."""
    return _workers is not None


def init_worker(
    django_init: Callable[..., None], workers: Workers, counter: Any, *args: Any
) -> None:
    """The pool's initializer: Django's, but a replacement worker reuses the number (and so
    the database clones) of the worker it replaces."""
    global _workers
    _workers = workers
    termination.in_worker()
    try:
        with counter.get_lock():
            number = workers.take_dead_number()
            if number is not None:
                following, counter.value = counter.value, number - 1
                django_init(counter, *args)
                counter.value = following
        if number is None:
            django_init(counter, *args)
            workers.claim(inventory.worker_number())
    except Exception:
        with counter.get_lock():
            counter.value = INIT_FAILED
        raise


#: In a worker: the batch it runs now, for ``event_stream``.
_batch = IDLE


def run_batch(run_subsuite: Callable[[Any], Any], args: tuple[Any, ...]) -> Any:
    """In a worker: Django's ``_run_subsuite``, with the batch marked as this worker's."""
    global _batch
    number = inventory.worker_number()
    _batch = args[1]
    if _workers is not None:
        _workers.running(number, _batch)
    try:
        return run_subsuite(args)
    finally:
        _batch = IDLE
        if _workers is not None:
            _workers.running(number, IDLE)


def event_stream() -> EventStream | None:
    """In a worker running a batch: the events list its result should keep."""
    if _workers is None or _batch == IDLE:
        return None
    return EventStream(Path(_workers.notes) / f"events-{os.getpid()}.bin", _batch)


def leave_note(test_id: str, report: str, result: Any) -> None:
    """In a worker the watchdog is about to end: tell the parent what it was running."""
    workers, number = _workers, inventory.worker_number()
    if workers is None or not 0 < number <= len(workers.batches):
        return
    batch, workers.batches[number - 1] = workers.batches[number - 1], IDLE
    Note(batch, test_id, report, getattr(result, "events", [])).write(workers.notes)


class RemoteResult(ReportRecorder, PortableErrors, RemoteTestResult):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        stream = event_stream()
        if stream is not None:
            self.events = stream
        self._position = -1
        self._holder: str | None = None

    @property
    def test_index(self) -> int | str:
        """The test's position in the batch, which names it to the parent.

        Django takes ``testsRun - 1``, but on Python 3.12 a test skipped by a decorator never
        starts (``testsRun`` stays), so its skip, and every later test's events, would be
        told of the test before it. A class- or module-level skip is no test of the batch:
        it goes by its description (``AsyncParallelTestSuite.handle_event``).
        """
        return self._position if self._holder is None else self._holder

    def startTest(self, test: Any) -> None:
        self._position += 1
        super().startTest(test)

    def addSkip(self, test: Any, reason: str) -> None:
        if not isinstance(test, unittest.TestCase):
            self._holder = str(test)
            try:
                super().addSkip(test, reason)
            finally:
                self._holder = None
            return
        if self._running is None:
            # Skipped before it started; a subtest's skip comes while its test runs.
            self._position += 1
        super().addSkip(test, reason)

    @property
    def shouldStop(self) -> bool:
        """Also true once the parent stopped the workers (a first Ctrl-C)."""
        return self._should_stop or (_workers is not None and _workers.stopping.value)

    @shouldStop.setter
    def shouldStop(self, value: bool) -> None:
        self._should_stop = value

    def __getstate__(self) -> dict[str, Any]:
        """Without the running test: Django pickles a failed subtest (and so its test, which
        can reach this result) to check it can be sent; the test must not lead back here."""
        state = dict(super().__getstate__())
        state.pop("_running", None)
        state.pop("_tees", None)
        return state

    def report(self, test: Any, report: TestReport) -> None:
        # Sent before ``stopTest`` (appended by the base class after this), so the parent
        # has the report by the time it sees the test end.
        self.events.append((EVENT, max(self._position, 0), report))


def runner_class(details: bool, passes: bool) -> Any:
    """What ``ParallelTestSuite.runner_class`` should be: picklable, so spawned workers too."""
    resultclass = functools.partial(RemoteResult, details=details, passes=passes)
    return functools.partial(RemoteTestRunner, resultclass=resultclass)


def install(suite: Any, details: bool, passes: bool) -> bool:
    """Make a ``ParallelTestSuite``'s workers send reports; False when its runner class is
    a custom one that arunner leaves alone."""
    if getattr(suite, "runner_class", None) is not RemoteTestRunner:
        return False
    suite.runner_class = runner_class(details, passes)
    return True
