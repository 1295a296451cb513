"""Every stop is clean: Ctrl-C once, Ctrl-C twice and SIGTERM, at every point of a run.

Runs are started and stopped as a terminal or CI would (``tests.stops``). On every database,
every point is stopped by each of its signals once; the mode (serial or ``--parallel 2``) and
the command (``arunner`` or ``manage.py test``) alternate, so that each point, each signal and
each mode goes through both commands, and each point and signal through both modes (but the
point stopped by a single signal, and that signal).
Runs go three at a time, each on a project of its own, to keep the whole within tens of
seconds.

Run on every Python and Django, the matrix (and the swallowed timeouts, serial and parallel,
coroutine and sync) would re-test the same stops: they run in one env of the CI matrix, on
every database (tag ``one_env``, ``scripts/test-all.sh``); ``test_e2e_timeouts`` has the
timeouts of every env.
"""

import queue
import re
import time
from concurrent.futures import ThreadPoolExecutor
from xml.etree import ElementTree

from django.test import SimpleTestCase, tag

from tests.e2e import Project
from tests.stops import (
    ENDING,
    POINTS,
    SIGNALS,
    STOP_WITHIN,
    selected,
    stop_run,
    stops_project,
)

CLOSING = re.compile(r"^\d+ passed, \d+ failed, \d+ skipped$")

#: Points where tests run (a test is running when the signal comes).
IN_A_TEST = ("sync", "coro", "hung_coro", "hung_sync", "blocked_loop", "swallows_stop", "query")


def rows() -> list[tuple[str, str, str, bool]]:
    """(point, signals, command, parallel) of the runs: each point once per signal. Within a
    point the mode and the command change with the signal; shifting them by the point's index
    (the command by half of it) spreads both over the signals (``MatrixCoverage``)."""
    chosen = []
    for i, point in enumerate(POINTS):
        usual = (*(("int",) if point in ENDING else ()), "int2", "term")
        for j, signals in enumerate(SIGNALS.get(point, usual)):
            parallel = (i + j) % 2 == 1
            command = "manage" if ((i + 1) // 2 + j) % 2 else "arunner"
            chosen.append((point, signals, command, parallel))
    return chosen


class MatrixCoverage(SimpleTestCase):
    """What the module's docstring promises of ``rows``."""

    def test_each_point_signal_and_mode_meets_both_commands_and_modes(self):
        chosen = rows()
        self.assertEqual(
            {(point, signals) for point, signals, _, _ in chosen},
            {
                (point, signals)
                for point in POINTS
                for signals in SIGNALS.get(point, ("int", "int2", "term"))
                if signals != "int" or point in ENDING
            },
        )
        self.assertEqual(len(chosen), len({row[:2] for row in chosen}))  # each pair once
        for axis in (0, 1, 3):  # point, signals, mode
            for value in {row[axis] for row in chosen}:
                runs = [row for row in chosen if row[axis] == value]
                if len(runs) == 1:
                    continue  # the point stopped by one signal only, and that signal
                with self.subTest(value=value):
                    self.assertEqual({row[2] for row in runs}, {"arunner", "manage"})
                    if axis != 3:
                        self.assertEqual({row[3] for row in runs}, {False, True})


@tag("one_env")
class EveryStopIsClean(SimpleTestCase):
    def test_every_point_every_signal(self):
        chosen = rows()
        projects = [stops_project() for _ in range(3)]
        free: queue.SimpleQueue = queue.SimpleQueue()
        for project in projects:
            free.put(project)

        def run(row):
            project = free.get()  # a project serves one run at a time
            try:
                return stop_run(project, *row)
            finally:
                free.put(project)

        try:
            with ThreadPoolExecutor(len(projects)) as pool:
                outcomes = list(pool.map(run, chosen))
        finally:
            for project in projects:
                project.cleanup()
        for row, stopped in zip(chosen, outcomes, strict=True):
            with self.subTest(row=row):
                self.check(*row, stopped)

    def check(self, point, signals, command, parallel, stopped):
        output = stopped.output
        self.assertEqual(stopped.code, 143 if signals == "term" else 130, output)
        self.assertLess(stopped.elapsed, STOP_WITHIN, output)
        self.assertNotIn("Traceback", output)
        self.assertNotIn("destroyed but it is pending", output)
        self.assertEqual(stopped.left, {}, output)
        self.assertIsNotNone(stopped.junit, output)
        self.assertIsNotNone(stopped.durations, output)
        # The durations file has every test the JUnit file has (skips aside).
        self.assertEqual(len(stopped.durations), len(stopped.junit), output)
        word = "terminated" if signals == "term" else "interrupted"
        self.assertEqual(stopped.lines[-2], f"arunner: {word}", output)
        self.assertRegex(stopped.lines[-1], CLOSING, output)
        outcomes = dict(stopped.junit)
        if signals == "int":
            # The running tests end and pass; the rest do not start.
            waits_for = (
                "tests" if parallel else f"test (e2eapp.tests.test_{point}.First.test_point)"
            )
            self.assertIn(
                f"arunner: stopping after the running {waits_for}; press Ctrl-C again to stop now",
                output,
            )
            not_run = "1 selected test" if parallel else "2 selected tests"
            self.assertIn(f"arunner: {not_run} did not run", output)
            ran = 3 if parallel else 2
            self.assertEqual(stopped.lines[-1], f"{ran} passed, 0 failed, 0 skipped", output)
        elif point in IN_A_TEST:
            # The running tests are errors, never passes; the test that ended before the
            # stop is reported, though its class (its --parallel batch) had not ended.
            self.assertEqual(outcomes.get("test_point"), "error", output)
            self.assertNotIn(("test_point", "passed"), stopped.junit, output)
            self.assertIn(("test_a_quick", "passed"), stopped.junit, output)
        if point in ("migrate", "import"):
            self.assertEqual(stopped.lines[-1], "0 passed, 0 failed, 0 skipped", output)
            if point == "migrate":
                self.assertIn(f"arunner: {selected(point)} selected tests did not run", output)


@tag("one_env")
class KeptDatabase(SimpleTestCase):
    def test_keepdb_after_a_stop_during_migrations_makes_the_database_again(self):
        """MariaDB's DDL is not transactional: the half-migrated database must not be kept."""
        project = stops_project()
        try:
            stopped = stop_run(project, "migrate", "term", keepdb=True)
            self.assertEqual(stopped.code, 143, stopped.output)
            run = project.run("--keepdb", "e2eapp.tests.test_quick")
            self.assertEqual(run.code, 0, run.output)
            self.assertIn("was left incomplete; making it again", run.output)
            self.assertEqual(run.closing_line, "2 passed, 0 failed, 0 skipped")
            again = project.run("--keepdb", "e2eapp.tests.test_quick")
            self.assertEqual(again.code, 0, again.output)
            self.assertNotIn("left incomplete", again.output)
        finally:
            project.cleanup()


SWALLOW_ASYNC = """
import asyncio

from django.test import TestCase


class Async(TestCase):
    def test_a_quick(self):
        pass

    async def test_b_swallows(self):
        try:
            await asyncio.sleep(3600)
        except BaseException:
            await asyncio.sleep(3600)

    def test_c_after(self):
        pass


class Other(TestCase):
    def test_other(self):
        pass
"""

SWALLOW_SYNC = """
import time

from django.test import TestCase


class Sync(TestCase):
    def test_a_quick(self):
        pass

    def test_b_swallows(self):
        try:
            time.sleep(3600)
        except BaseException:
            time.sleep(3600)

    def test_c_after(self):
        pass


class Other(TestCase):
    def test_other(self):
        pass
"""

#: The time limit of the swallowing tests, and how long past it a run may go on.
LIMIT = 2
PAST_LIMIT = 30


@tag("one_env")
class SwallowedTimeouts(SimpleTestCase):
    """A test that catches its timeout and keeps waiting fails with its report; the run
    goes on (a coroutine test is given up; a ``--parallel`` worker is ended) or ends by the
    last resort (a sync test, serially), within bounds and without a traceback of arunner's."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.project = Project({"test_async": SWALLOW_ASYNC, "test_sync": SWALLOW_SYNC})
        cls.addClassCleanup(cls.project.cleanup)

    def swallow(self, module, *args):
        junit = self.project.root / "junit.xml"
        started = time.monotonic()
        run = self.project.run(
            "--timeout", str(LIMIT), "--junit-xml", str(junit), f"e2eapp.tests.{module}", *args
        )
        self.assertLess(time.monotonic() - started, LIMIT + PAST_LIMIT, run.output)
        self.assertEqual(run.code, 1, run.output)
        for text in ("CancelledError", "Task was destroyed", "Exception ignored"):
            self.assertNotIn(text, run.output)
        self.assertIn(f"e2eapp.tests.{module}.", run.output)
        self.assertIn(f".test_b_swallows exceeded its {LIMIT}s timeout", run.output)
        self.assertEqual(self.project.test_dbs_left(), [], run.output)
        cases = {
            case.get("name"): [child.tag for child in case]
            for case in ElementTree.parse(junit).iter("testcase")
        }
        self.assertIn("error", cases["test_b_swallows"], run.output)
        return run, cases

    def test_coroutine_test_serially(self):
        run, _ = self.swallow("test_async")
        self.assertEqual(run.closing_line, "3 passed, 1 failed, 0 skipped", run.output)
        self.assertNotIn("Traceback", run.output)

    def test_coroutine_test_in_parallel(self):
        run, _ = self.swallow("test_async", "--parallel", "2")
        self.assertEqual(run.closing_line, "3 passed, 1 failed, 0 skipped", run.output)

    def test_sync_test_serially_ends_the_run_by_the_last_resort(self):
        run, cases = self.swallow("test_sync")
        self.assertIn("arunner: the test could not be cancelled; ending the run.", run.output)
        # Other runs first; test_c_after never does.
        self.assertEqual(run.closing_line, "2 passed, 1 failed, 0 skipped", run.output)
        self.assertEqual(
            sorted(cases), ["test_a_quick", "test_b_swallows", "test_other"], run.output
        )

    def test_sync_test_in_parallel_ends_its_worker(self):
        run, _ = self.swallow("test_sync", "--parallel", "2")
        self.assertIn("ending this --parallel worker; the run goes on", run.output)
        self.assertEqual(run.closing_line, "3 passed, 1 failed, 0 skipped", run.output)
