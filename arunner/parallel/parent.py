"""``--parallel`` that goes on when a worker is lost.

A worker can be lost two ways: the watchdog's last resort ends its process (its test could
not be stopped, ``arunner.timeouts.watchdog``), or it dies on its own (a crash, ``os._exit``,
the OOM killer). Django's ``ParallelTestSuite`` would then wait forever for that worker's batch, and
the pool's replacement worker would take a new number, for which no database clone exists.
So the workers share a table of which process holds each worker number and which batch it
runs, and:

- a worker ended by the watchdog first leaves a note in a directory the parent made for the
  run: its batch, the test, the report, and the result events of the batch so far;
- a replacement worker takes the number of the dead one, so it uses the same database clones
  (the dead one's sessions are gone, which rolled its transaction back); if the dead one died
  without a note, the replacement leaves one for it, naming the batch it was running;
- the parent replays a note's events, reports the test as an error, and sends the rest of the
  batch to the pool again; in a batch whose worker crashed, each test that had not ended is
  reported as an error and not run again (it would likely crash again). The run goes on.

Django sends a batch's results when the whole batch is done. Here each worker also appends
every test's events, as the test ends, to a file of its own in that directory, which the
parent reads as it waits: progress shows per test, and Ctrl-C or a lost worker loses only the
tests that had not ended. A worker killed mid-write leaves an incomplete record, never read.

This module is the parent's side; ``arunner.parallel.workers`` is the workers' (their result, the
shared table, the notes they leave), ``arunner.parallel.handoff`` the files between them.
"""

from __future__ import annotations

import ctypes
import functools
import itertools
import multiprocessing
import queue
import shutil
import tempfile
import unittest
from pathlib import Path
from typing import Any

from django.db import connections
from django.test.runner import ParallelTestSuite

from arunner.core import inventory
from arunner.core.errors import TestTimeoutError
from arunner.parallel.handoff import Note, read_notes, read_records
from arunner.parallel.workers import IDLE, Workers, init_worker, run_batch
from arunner.timeouts import dbinterrupt

__unittest = True


class WorkerLostError(Exception):
    """The ``--parallel`` worker running the test died before reporting it."""


class StoppedError(Exception):
    """The run was stopped at once (a second Ctrl-C, SIGTERM) while the test ran."""


STOPPED = "the run was stopped (a second Ctrl-C or SIGTERM) while this test ran"


class WorkerStartError(RuntimeError):
    """A ``--parallel`` worker failed to start; its traceback is printed above."""


class AsyncParallelTestSuite(ParallelTestSuite):
    """Django's ``ParallelTestSuite``, which also survives losing a worker."""

    def run(self, result: unittest.TestResult) -> unittest.TestResult:
        self.initialize_suite()
        # Django 6.x does this too: the workers buffer; the parent replaying must not.
        result.buffer = False
        global _current
        directory = tempfile.mkdtemp(prefix="arunner-workers-")
        try:
            counter = multiprocessing.Value(ctypes.c_int, 0)
            workers = _current = Workers(self.processes, directory)
            with multiprocessing.Pool(
                processes=self.processes,
                initializer=functools.partial(init_worker, self.init_worker.__func__, workers),
                initargs=[counter, *inventory.parallel_initargs(self)],
            ) as pool:
                batches = _Batches(self, pool, result, counter, directory, workers)
                stopped: KeyboardInterrupt | None = None
                try:
                    closes = batches.run()
                except KeyboardInterrupt as exc:
                    stopped, closes = exc, False
                if stopped is not None:
                    batches.interrupted()  # outside the handler: these errors are its own
                if closes:
                    pool.close()
                else:
                    pool.terminate()
                pool.join()
                if not closes:
                    self._end_lost_sessions()
                if stopped is not None:
                    raise stopped
        finally:
            _current = None
            shutil.rmtree(directory, ignore_errors=True)
        return result

    def _end_lost_sessions(self) -> None:
        """With every worker gone, end what still holds a clone: the session of a worker
        that died (or was stopped) in a query runs on until the query ends, and teardown
        could not drop it."""
        for alias in self.used_aliases or connections:
            connection = connections[alias]
            for number in range(1, self.processes + 1):
                name = connection.creation.get_test_db_clone_settings(str(number))["NAME"]
                dbinterrupt.end_other_sessions(connection, name)

    def handle_event(self, result: Any, tests: list[Any], event: tuple[Any, ...]) -> None:
        """Django's, plus a class- or module-level skip, which a worker sends with the stand-in
        test's description in place of a position (``workers.RemoteResult``)."""
        if event[0] == "addSkip" and isinstance(event[1], str):
            result.addSkip(inventory.error_holder(event[1]), *event[2:])
            return
        super().handle_event(result, tests, event)

    def submit(self, pool: Any, index: int, subsuite: Any, done: queue.SimpleQueue[Any]) -> None:
        args = (self.runner_class, index, subsuite, self.failfast, self.buffer)
        run = functools.partial(run_batch, self.run_subsuite.__func__)
        pool.apply_async(run, (args,), callback=done.put, error_callback=done.put)


#: The workers of the run in progress, for ``stop_workers``.
_current: Workers | None = None


def stop_workers() -> None:
    """A first Ctrl-C: every worker ends the test it runs and starts no other (any thread)."""
    if _current is not None:
        _current.stopping.value = True


class _Batches:
    """The parent's side of one run: batches out, events back, notes of lost workers."""

    def __init__(
        self,
        suite: AsyncParallelTestSuite,
        pool: Any,
        result: Any,
        counter: Any,
        notes: str,
        workers: Workers,
    ) -> None:
        self.suite = suite
        self.workers = workers
        self.pool = pool
        self.result = result
        self.counter = counter
        self.notes = notes
        self.seen: set[str] = set()
        self.done: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self.pending: dict[int, Any] = {}
        self.numbers = itertools.count()
        self.lost = False
        self.offsets: dict[Path, int] = {}
        self.tests: dict[int, list[Any]] = {}
        self.ended: dict[int, set[int]] = {}

    def run(self) -> bool:
        """Wait for every batch; True when the pool can be closed rather than terminated
        (nothing stopped the run and no worker was lost with a batch in hand)."""
        for subsuite in self.suite.subsuites:
            self._submit(subsuite)
        try:
            self._wait()
        finally:
            self._read_streams()  # the tests that ended, also when the run is stopped
        return not (self.result.shouldStop or self.lost)

    def interrupted(self) -> None:
        """A second Ctrl-C or SIGTERM: the tests the workers are running are errors (the
        workers are stopped next). A worker runs its batch's tests in order, so its running
        test is the first of its batch that has not ended."""
        self._read_streams()
        running = {batch for batch in self.workers.batches[:] if batch != IDLE}
        for index in sorted(running & set(self.pending)):
            ended = self.ended.get(index, set())
            tests = self.tests[index]
            position = next((i for i in range(len(tests)) if i not in ended), None)
            if position is not None:
                _report_error(self.result, tests[position], StoppedError(STOPPED))

    def _wait(self) -> None:
        # After a first Ctrl-C the workers end their running tests; wait for them.
        while self.pending and not (self.result.shouldStop and not self.workers.stopping.value):
            try:
                outcome = self.done.get(timeout=0.1)
            except queue.Empty:
                self._check_workers()
                continue
            if isinstance(outcome, BaseException):
                raise outcome
            self._read_streams()
            index, events = outcome
            del self.pending[index]
            self._replay(index, events)

    def _submit(self, subsuite: Any) -> None:
        index = next(self.numbers)
        self.pending[index] = subsuite
        self.tests[index] = list(subsuite)
        self.suite.submit(self.pool, index, subsuite, self.done)

    def _replay(self, index: int, events: list[tuple[Any, ...]]) -> None:
        """Replay the last events of a batch that is over (the stream had the others)."""
        tests = self.tests.pop(index)
        self.ended.pop(index, None)
        for event in events:
            self.suite.handle_event(self.result, tests, event)

    def _read_streams(self) -> None:
        for path in sorted(Path(self.notes).glob("events-*.bin")):
            records, self.offsets[path] = read_records(path, self.offsets.get(path, 0))
            for index, events in records:
                if index in self.pending:
                    self._stream(index, events)

    def _stream(self, index: int, events: list[tuple[Any, ...]]) -> None:
        tests = self.tests[index]
        for event in events:
            self.suite.handle_event(self.result, tests, event)
            if event[0] in ("stopTest", "addSkip"):  # a test may be skipped before it starts
                self.ended.setdefault(index, set()).add(event[1])

    def _check_workers(self) -> None:
        self._read_streams()
        if self.counter.value < 0:
            raise WorkerStartError("a --parallel worker failed to start; see its traceback")
        for note in read_notes(self.notes, self.seen):
            if note.batch in self.pending:
                self.lost = True
                self._lost_batch(note, self.pending.pop(note.batch))

    def _lost_batch(self, note: Note, subsuite: Any) -> None:
        tests, ended = self.tests[note.batch], self.ended.get(note.batch, set())
        if note.test_id is None:
            self._replay(note.batch, [])
            for position, test in enumerate(tests):
                if position not in ended:
                    _report_error(self.result, test, WorkerLostError(note.report))
            return
        position = next(i for i, test in enumerate(tests) if test.id() == note.test_id)
        self._replay(note.batch, [event for event in note.events if _before(event, position)])
        _report_error(self.result, tests[position], TestTimeoutError(note.report))
        rest = tests[position + 1 :]
        if rest and not self.result.shouldStop:
            config = getattr(subsuite, "config", None)
            self._submit(type(subsuite)(rest) if config is None else type(subsuite)(rest, config))


def _before(event: tuple[Any, ...], position: int) -> bool:
    """An event of a test before ``position``, or of none (before any test, a class skip)."""
    index = event[1] if len(event) > 1 else None
    return not isinstance(index, int) or index < position


def _report_error(result: Any, test: Any, error: Exception) -> None:
    # The parent's result only relays the reports workers build; this test's report must be
    # built here, so let it record for the moment.
    result.records = True
    try:
        result.startTest(test)
        result.addError(test, (type(error), error, None))
        result.stopTest(test)
    finally:
        del result.records
