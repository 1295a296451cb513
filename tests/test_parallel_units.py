"""The pieces behind ``--parallel`` surviving a lost worker, and the watchdog's lifetime."""

import ctypes
import multiprocessing
import tempfile
import threading

from django.test import SimpleTestCase

from arunner import parallel, timeouts


def counting_init(calls):
    """Stands in for Django's ``_init_worker``: takes the next number from the counter."""

    def init(counter, *args):
        with counter.get_lock():
            counter.value += 1
            calls.append((counter.value, args))

    return init


class WorkerNumbers(SimpleTestCase):
    def setUp(self):
        self.counter = multiprocessing.Value(ctypes.c_int, 0)
        self.freed = multiprocessing.Array(ctypes.c_int, 2)
        self.calls = []
        self.init = counting_init(self.calls)
        self.addCleanup(setattr, parallel, "_freed_numbers", None)

    def start_worker(self):
        parallel.init_worker(self.init, self.freed, self.counter, "settings")
        return self.calls[-1][0]

    def test_new_workers_take_the_next_numbers(self):
        self.assertEqual([self.start_worker(), self.start_worker()], [1, 2])
        self.assertEqual(self.calls[0][1], ("settings",))

    def test_a_replacement_takes_the_number_handed_back(self):
        self.start_worker()
        self.start_worker()
        parallel._hand_back(1)
        self.assertEqual(self.start_worker(), 1)
        self.assertEqual(self.counter.value, 2)
        self.assertEqual(self.start_worker(), 3)
        self.assertEqual(list(self.freed), [0, 0])

    def test_a_failed_start_is_flagged_for_the_parent(self):
        def failing(counter, *args):
            raise RuntimeError("no database")

        with self.assertRaisesMessage(RuntimeError, "no database"):
            parallel.init_worker(failing, self.freed, self.counter)
        self.assertEqual(self.counter.value, parallel.INIT_FAILED)


class Notes(SimpleTestCase):
    def test_a_note_carries_the_test_its_report_and_the_events_so_far(self):
        result = type("Result", (), {"events": [("startTest", 0), ("addSuccess", 0)]})()
        with tempfile.TemporaryDirectory() as directory:
            parallel.leave_note(directory, "app.tests.T.test_b", "the report", result)
            seen = set()
            notes = list(parallel.read_notes(directory, seen))
            self.assertEqual(
                notes, [parallel.Note("app.tests.T.test_b", "the report", result.events)]
            )
            self.assertEqual(list(parallel.read_notes(directory, seen)), [])


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
