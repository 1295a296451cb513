"""The pieces behind ``--parallel`` surviving a lost worker, and the watchdog's lifetime."""

import ctypes
import multiprocessing
import os
import pickle
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from unittest import mock

from django.test import SimpleTestCase

from arunner.core import inventory
from arunner.parallel import handoff, workers
from arunner.timeouts import watchdog as timeouts


def counting_init(calls):
    """Stands in for Django's ``_init_worker``: takes the next number from the counter."""

    def init(counter, *args):
        with counter.get_lock():
            counter.value += 1
            calls.append((counter.value, args))

    return init


def dead_pid():
    """The pid of a process that has ended and been reaped."""
    done = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    return int(done.stdout)


class WorkerNumbers(SimpleTestCase):
    def setUp(self):
        self.counter = multiprocessing.Value(ctypes.c_int, 0)
        self.notes = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, self.notes)
        self.workers = workers.Workers(2, self.notes)
        self.calls = []
        self.init = counting_init(self.calls)
        self.addCleanup(setattr, workers, "_workers", None)

    def start_worker(self):
        workers.init_worker(self.init, self.workers, self.counter, "settings")
        return self.calls[-1][0]

    def notes_left(self):
        return list(handoff.read_notes(self.notes, set()))

    def test_new_workers_take_the_next_numbers(self):
        self.assertEqual([self.start_worker(), self.start_worker()], [1, 2])
        self.assertEqual(self.calls[0][1], ("settings",))

    def test_a_replacement_takes_the_number_of_the_dead_worker(self):
        self.workers.pids[0], self.workers.pids[1] = os.getpid(), dead_pid()
        self.counter.value = 2
        self.assertEqual(self.start_worker(), 2)
        self.assertEqual(self.counter.value, 2)
        self.assertEqual(self.notes_left(), [])

    def test_a_replacement_leaves_a_note_for_a_batch_the_dead_worker_held(self):
        self.workers.pids[0], self.workers.batches[0] = dead_pid(), 7
        self.counter.value = 2
        self.assertEqual(self.start_worker(), 1)
        [note] = self.notes_left()
        self.assertEqual((note.batch, note.test_id), (7, None))
        self.assertIn("died", note.report)
        self.assertEqual(self.workers.batches[0], workers.IDLE)

    def test_a_failed_start_is_flagged_for_the_parent(self):
        def failing(counter, *args):
            raise RuntimeError("no database")

        with self.assertRaisesMessage(RuntimeError, "no database"):
            workers.init_worker(failing, self.workers, self.counter)
        self.assertEqual(self.counter.value, workers.INIT_FAILED)


class Notes(SimpleTestCase):
    def test_a_note_carries_the_batch_the_test_its_report_and_the_events_so_far(self):
        result = type("Result", (), {"events": [("startTest", 0), ("addSuccess", 0)]})()
        with tempfile.TemporaryDirectory() as directory:
            table = workers.Workers(1, directory)
            table.batches[0] = 3
            self.addCleanup(setattr, workers, "_workers", None)
            workers._workers = table
            with mock.patch.object(inventory, "worker_number", return_value=1):
                workers.leave_note("app.tests.T.test_b", "the report", result)
            seen = set()
            self.assertEqual(
                list(handoff.read_notes(directory, seen)),
                [handoff.Note(3, "app.tests.T.test_b", "the report", result.events)],
            )
            self.assertEqual(list(handoff.read_notes(directory, seen)), [])
            self.assertEqual(table.batches[0], workers.IDLE)


class WatchdogThread(SimpleTestCase):
    def test_uninstall_ends_the_thread(self):
        watchdog = timeouts.Watchdog(lambda armed: None)
        armed = timeouts.Armed("t", 60, [], lambda armed: None, lambda: (None, None))
        watchdog.arm(armed)
        thread = next(t for t in threading.enumerate() if t is watchdog._thread)
        watchdog.uninstall()
        thread.join(timeout=30)
        self.assertFalse(thread.is_alive())

    def test_a_test_past_its_limit_is_cancelled(self):
        cancelled = threading.Event()
        watchdog = timeouts.Watchdog(lambda armed: None)
        armed = timeouts.Armed(
            "app.T.test", 0.01, [], lambda armed: cancelled.set(), lambda: (None, None)
        )
        watchdog.arm(armed)
        try:
            self.assertTrue(cancelled.wait(timeout=30))
            self.assertIn("app.T.test exceeded its 0.01s timeout", armed.report)
        finally:
            watchdog.uninstall()


class EventStreams(SimpleTestCase):
    def setUp(self):
        directory = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, directory)
        self.addCleanup(handoff.events_file.close)
        self.path = Path(directory) / "events-1.bin"

    def test_each_test_reaches_the_file_when_it_ends(self):
        stream = handoff.EventStream(self.path, 4)
        stream.append(("addError", -1, "setUpClass", "error"))
        stream.append(("startTest", 0))
        self.assertEqual(handoff.read_records(self.path, 0)[0], [(4, [stream[0]])])
        stream.append(("addSuccess", 0))
        stream.append(("stopTest", 0))
        records, end = handoff.read_records(self.path, 0)
        self.assertEqual(records, [(4, [stream[0]]), (4, list(stream[1:]))])
        self.assertEqual(handoff.read_records(self.path, end), ([], end))

    def test_batches_of_a_worker_share_its_file_and_another_path_gets_its_own(self):
        first, second = handoff.EventStream(self.path, 1), handoff.EventStream(self.path, 2)
        other = self.path.with_name("events-2.bin")
        first.append(("startTest", 0))
        first.append(("stopTest", 0))
        second.append(("addSuccess", 0))
        handoff.EventStream(other, 3).append(("addSuccess", 0))
        records, _ = handoff.read_records(self.path, 0)
        self.assertEqual([batch for batch, _ in records], [1, 2])
        self.assertEqual(handoff.read_records(other, 0)[0], [(3, [("addSuccess", 0)])])
        self.assertEqual(len(handoff.read_records(self.path, 0)[0]), 2)

    def test_it_pickles_as_the_plain_list_django_returns(self):
        stream = handoff.EventStream(self.path, 0)
        stream.append(("startTest", 0))
        copy = pickle.loads(pickle.dumps(stream))
        self.assertIs(type(copy), list)
        self.assertEqual(copy, [("startTest", 0)])

    def test_a_record_cut_short_by_a_killed_worker_is_not_read(self):
        stream = handoff.EventStream(self.path, 0)
        stream.append(("startTest", 0))
        stream.append(("stopTest", 0))
        whole = self.path.read_bytes()
        self.path.write_bytes(whole + whole[:-3])
        records, end = handoff.read_records(self.path, 0)
        self.assertEqual(records, [(0, [("startTest", 0), ("stopTest", 0)])])
        self.assertEqual(end, len(whole))
