"""``--parallel`` that goes on when a worker's test cannot be stopped.

The watchdog's last resort ends the worker's process (``arunner.timeouts``). Django's
``ParallelTestSuite`` would then wait forever for that worker's batch, and the pool's
replacement worker would take a new number, for which no database clone exists. So:

- the dying worker leaves a note in a directory the parent made for the run (the test, its
  report, and the result events of the batch so far) and hands its worker number back;
- the replacement worker takes that number, so it uses the clones the dead one used (the
  watchdog terminated the dead one's database sessions, which rolled its transaction back);
- the parent replays the note's events, reports the test as an error, and sends the rest of
  the batch to the pool again. Only that worker is lost; the run goes on.
"""

from __future__ import annotations

import ctypes
import dataclasses
import functools
import itertools
import multiprocessing
import os
import pickle
import queue
import shutil
import tempfile
import unittest
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from django.test.runner import ParallelTestSuite

from . import inventory
from .timeouts import TestTimeoutError

__unittest = True

#: The counter value that tells the parent a worker failed to start (as Django 6.x does).
INIT_FAILED = -1000

#: In a worker: the shared slots where a dying worker hands its number back.
_freed_numbers: Any = None


@dataclasses.dataclass(frozen=True)
class Note:
    """What a dying worker tells the parent about the test it could not stop."""

    test_id: str
    report: str
    events: list[tuple[Any, ...]]


def leave_note(directory: str, test_id: str, report: str, result: Any) -> None:
    """In the worker, just before it exits: tell the parent, and free the worker's number."""
    events = list(getattr(result, "events", ()))
    path = Path(directory) / uuid.uuid4().hex
    path.with_suffix(".tmp").write_bytes(pickle.dumps(Note(test_id, report, events)))
    os.replace(path.with_suffix(".tmp"), path.with_suffix(".note"))
    _hand_back(inventory.worker_number())


def _hand_back(number: int) -> None:
    freed = _freed_numbers
    if freed is None:
        return
    with freed.get_lock():
        for slot, value in enumerate(freed):
            if value == 0:
                freed[slot] = number
                return


def _take_freed(freed: Any) -> int | None:
    with freed.get_lock():
        for slot, value in enumerate(freed):
            if value != 0:
                freed[slot] = 0
                return value
    return None


def init_worker(django_init: Callable[..., None], freed: Any, counter: Any, *args: Any) -> None:
    """The pool's initializer: Django's, but a replacement worker reuses the number (and so
    the database clones) of the worker it replaces."""
    global _freed_numbers
    _freed_numbers = freed
    try:
        with counter.get_lock():
            number = _take_freed(freed)
            if number is not None:
                following, counter.value = counter.value, number - 1
                django_init(counter, *args)
                counter.value = following
                return
        django_init(counter, *args)
    except Exception:
        with counter.get_lock():
            counter.value = INIT_FAILED
        raise


def read_notes(directory: str, seen: set[str]) -> Iterator[Note]:
    for path in sorted(Path(directory).glob("*.note")):
        if path.name not in seen:
            seen.add(path.name)
            yield pickle.loads(path.read_bytes())


class WorkerStartError(RuntimeError):
    """A ``--parallel`` worker failed to start; its traceback is printed above."""


class AsyncParallelTestSuite(ParallelTestSuite):
    """Django's ``ParallelTestSuite``, which also survives a worker that had to be ended."""

    def run(self, result: unittest.TestResult) -> unittest.TestResult:
        self.initialize_suite()
        # Django 6.x does this too: the workers buffer; the parent replaying must not.
        result.buffer = False
        directory = tempfile.mkdtemp(prefix="arunner-hung-")
        try:
            self._tell_workers(directory)
            counter = multiprocessing.Value(ctypes.c_int, 0)
            freed = multiprocessing.Array(ctypes.c_int, self.processes)
            with multiprocessing.Pool(
                processes=self.processes,
                initializer=functools.partial(init_worker, self.init_worker.__func__, freed),
                initargs=[
                    counter,
                    self.initial_settings,
                    self.serialized_contents,
                    self.process_setup.__func__,
                    self.process_setup_args,
                    self.debug_mode,
                    self.used_aliases,
                ],
            ) as pool:
                batches = _Batches(self, pool, result, counter, directory)
                if batches.run():
                    pool.close()
                else:
                    pool.terminate()
                pool.join()
        finally:
            shutil.rmtree(directory, ignore_errors=True)
        return result

    def _tell_workers(self, directory: str) -> None:
        for subsuite in self.subsuites:
            config = getattr(subsuite, "arunner_config", None)
            if config is not None:
                subsuite.arunner_config = dataclasses.replace(config, hang_dir=directory)

    def submit(self, pool: Any, index: int, subsuite: Any, done: queue.SimpleQueue) -> None:
        args = (self.runner_class, index, subsuite, self.failfast, self.buffer)
        pool.apply_async(
            self.run_subsuite.__func__, (args,), callback=done.put, error_callback=done.put
        )


class _Batches:
    """The parent's side of one run: batches out, events back, notes of lost workers."""

    def __init__(
        self, suite: AsyncParallelTestSuite, pool: Any, result: Any, counter: Any, notes: str
    ) -> None:
        self.suite = suite
        self.pool = pool
        self.result = result
        self.counter = counter
        self.notes = notes
        self.seen: set[str] = set()
        self.done: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self.pending: dict[int, Any] = {}
        self.numbers = itertools.count()
        self.lost = False

    def run(self) -> bool:
        """Wait for every batch; True when the pool can be closed rather than terminated
        (nothing stopped the run and no worker was lost with a batch in hand)."""
        for subsuite in self.suite.subsuites:
            self._submit(subsuite)
        while self.pending and not self.result.shouldStop:
            try:
                outcome = self.done.get(timeout=0.1)
            except queue.Empty:
                self._check_workers()
                continue
            if isinstance(outcome, BaseException):
                raise outcome
            index, events = outcome
            self._replay(list(self.pending.pop(index)), events)
        return not (self.result.shouldStop or self.lost)

    def _submit(self, subsuite: Any) -> None:
        index = next(self.numbers)
        self.pending[index] = subsuite
        self.suite.submit(self.pool, index, subsuite, self.done)

    def _replay(self, tests: list[Any], events: list[tuple[Any, ...]]) -> None:
        for event in events:
            self.suite.handle_event(self.result, tests, event)

    def _check_workers(self) -> None:
        if self.counter.value < 0:
            raise WorkerStartError("a --parallel worker failed to start; see its traceback")
        for note in read_notes(self.notes, self.seen):
            self._lost_worker(note)

    def _lost_worker(self, note: Note) -> None:
        """Report the test the worker could not stop, then send the rest of its batch again."""
        found = self._batch_of(note.test_id)
        if found is None:
            return
        self.lost = True
        index, tests, position = found
        subsuite = self.pending.pop(index)
        self._replay(tests, [e for e in note.events if e[1] < position])
        _report_hung(self.result, tests[position], note.report)
        rest = tests[position + 1 :]
        if rest and not self.result.shouldStop:
            remaining = type(subsuite)(rest)
            remaining.arunner_config = getattr(subsuite, "arunner_config", None)
            self._submit(remaining)

    def _batch_of(self, test_id: str) -> tuple[int, list[Any], int] | None:
        for index, subsuite in self.pending.items():
            tests = list(subsuite)
            for position, test in enumerate(tests):
                if test.id() == test_id:
                    return index, tests, position
        return None


def _report_hung(result: Any, test: Any, report: str) -> None:
    # The parent's result only relays the reports workers build; this test's report must be
    # built here, so let it record for the moment.
    result.records = True
    try:
        result.startTest(test)
        result.addError(test, (TestTimeoutError, TestTimeoutError(report), None))
        result.stopTest(test)
    finally:
        del result.records
