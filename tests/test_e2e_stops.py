"""Every stop is clean: Ctrl-C once, Ctrl-C twice and SIGTERM, at every point of a run.

Runs are started and stopped as a terminal or CI would (``tests.stops``). On PostgreSQL every
point is stopped by every signal, serially and with ``--parallel 2``, through ``arunner`` and
``manage.py test`` (the command alternating between the two modes, so that each pair of
point and signal goes through both); on SQLite and MariaDB a slice of it. Runs go three at a
time, each on a project of its own, to keep the whole within tens of seconds.
"""

import queue
import re
from concurrent.futures import ThreadPoolExecutor

from django.test import SimpleTestCase

from tests.databases import BACKEND
from tests.stops import ENDING, POINTS, STOP_WITHIN, selected, stop_run, stops_project

CLOSING = re.compile(r"^\d+ passed, \d+ failed, \d+ skipped$")

#: Points where tests run (a test is running when the signal comes).
IN_A_TEST = ("sync", "coro", "hung_coro", "hung_sync", "query")

SLICE = {
    "sqlite": ("sync", "coro", "hung_coro", "query", "setupclass", "migrate"),
    "mariadb": ("coro", "hung_sync", "query", "migrate"),
}


def rows() -> list[tuple[str, str, str, bool]]:
    """(point, signals, command, parallel) of this database's runs."""
    points = SLICE.get(BACKEND, POINTS)
    chosen = []
    for point in points:
        for signals in ("int2", "term", *(("int",) if point in ENDING else ())):
            for parallel in (False, True):
                command = "arunner" if parallel == (signals == "term") else "manage"
                chosen.append((point, signals, command, parallel))
    return chosen


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
            # The running tests are errors, never passes.
            self.assertEqual(outcomes.get("test_point"), "error", output)
            self.assertNotIn(("test_point", "passed"), stopped.junit, output)
        if point in ("migrate", "import"):
            self.assertEqual(stopped.lines[-1], "0 passed, 0 failed, 0 skipped", output)
            if point == "migrate":
                self.assertIn(f"arunner: {selected(point)} selected tests did not run", output)


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
