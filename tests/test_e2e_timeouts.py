"""Timeouts, hang reports and per-test diagnostics, on real runs of throwaway projects."""

import re
from xml.etree import ElementTree

from django.test import SimpleTestCase, tag

from tests.databases import BACKEND
from tests.e2e import Project

SLOW_QUERY = {
    "sqlite": (
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) SELECT COUNT(*) FROM n"
    ),
    "postgres": "SELECT pg_sleep(60)",
    "mariadb": "SELECT SLEEP(60)",
}[BACKEND]

HANGS = f"""
import asyncio
import time

from django.db import connection
from django.test import TestCase

import arunner
from e2eapp.models import Item


class Hangs(TestCase):
    async def test_a_awaits_forever(self):
        await Item.objects.acreate(name="rolled back")
        await asyncio.sleep(60)

    async def test_b_blocks_the_loop(self):
        time.sleep(60)

    def test_c_sync_sleeps(self):
        time.sleep(60)

    def test_d_stuck_in_a_query(self):
        with connection.cursor() as cursor:
            cursor.execute({SLOW_QUERY!r})

    @arunner.timeout(5)
    async def test_e_own_limit_is_longer(self):
        await asyncio.sleep(2)

    async def test_f_next_tests_still_run_and_see_no_rows(self):
        self.assertEqual(await Item.objects.acount(), 0)


class ClassLimit(TestCase):
    arunner_timeout = 0.5

    async def test_class_limit(self):
        await asyncio.sleep(60)
"""

SWALLOW_EVERYTHING = """
def swallow_everything():
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            time.sleep(60)
        except BaseException:
            pass
"""

UNSTOPPABLE = f"""
import time

from django.test import TestCase

{SWALLOW_EVERYTHING}

class Unstoppable(TestCase):
    def test_a_passes(self):
        pass

    def test_b_swallows_everything(self):
        swallow_everything()
"""

DIAGNOSTICS = """
import asyncio
import time

from django.test import TestCase


async def forgotten():
    pass


class Diagnostics(TestCase):
    async def test_leftover_task(self):
        asyncio.create_task(asyncio.sleep(60))

    async def test_unawaited_coroutine(self):
        forgotten()

    async def test_slow_callback(self):
        asyncio.get_running_loop().call_soon(time.sleep, 0.3)
        await asyncio.sleep(0.35)

    async def test_loop_type(self):
        mro = type(asyncio.get_running_loop()).__mro__
        uvloop = any(c.__module__.startswith("uvloop") for c in mro)
        print("LOOP", "uvloop" if uvloop else "asyncio")
"""

METHOD_LIMITS_ONLY = """
import asyncio
import time

from django.test import TestCase

import arunner


class NoClassLimit(TestCase):
    def test_a_has_no_limit(self):
        pass

    @arunner.timeout(0.5)
    def test_b_sync_own_limit(self):
        time.sleep(10)

    @arunner.timeout(0.5)
    async def test_c_coroutine_own_limit(self):
        await asyncio.sleep(10)
"""


@tag("cross")
class Timeouts(SimpleTestCase):
    def test_hung_tests_fail_with_a_report_and_the_run_goes_on(self):
        with Project({"test_hangs": HANGS}) as project:
            run = project.run("--timeout", "1", "-v", "2", "--executor", "inline", command="manage")
            out = run.output
            self.assertEqual(run.code, 1, out)
            for name in (
                "test_a_awaits_forever",
                "test_b_blocks_the_loop",
                "test_c_sync_sleeps",
                "test_d_stuck_in_a_query",
                "test_class_limit",
            ):
                self.assertIn(f"ERROR: {name}", out)
            self.assertNotIn("ERROR: test_e_own_limit_is_longer", out)
            self.assertNotIn("test_f_next_tests_still_run_and_see_no_rows", out.split("=====")[-1])
            self.assertIn("TestTimeoutError", out)
            self.assertIn("exceeded its 1s timeout", out)
            self.assertIn("exceeded its 0.5s timeout", out)
            self.assertIn("--- the test's task", out)
            self.assertIn("--- thread 'MainThread'", out)
            report = out.split("ERROR: test_a_awaits_forever")[1].split("=" * 70)[0]
            self.assertRegex(
                report, r"--- the test's task[^\n]*\n(?:.*\n)*?.*in test_a_awaits_forever\n"
            )
            self.assertIn("OperationalError", out.split("ERROR: test_d_stuck_in_a_query")[1])
            self.assertEqual(out.count("ERROR: test_d_stuck_in_a_query"), 1)
            self.assertEqual(run.closing_line, "2 passed, 5 failed, 0 skipped")

    def test_a_method_limit_applies_without_a_run_or_class_limit(self):
        """No --timeout, no arunner_timeout: only @arunner.timeout on two methods."""
        with Project({"test_method_limits": METHOD_LIMITS_ONLY}) as project:
            run = project.run("-v", "2", command="manage")
            out = run.output
            self.assertEqual(run.code, 1, out)
            self.assertIn("ERROR: test_b_sync_own_limit", out)
            self.assertIn("ERROR: test_c_coroutine_own_limit", out)
            self.assertEqual(out.count("exceeded its 0.5s timeout"), 2, out)
            self.assertEqual(run.closing_line, "1 passed, 2 failed, 0 skipped")

    def test_hop_loop_blocked_in_sync_code_ends_the_run_cleanly(self):
        """With --executor hop the loop has a thread of its own; blocked in time.sleep, no
        signal reaches it, so the test cannot be cancelled: the run ends, cleanly."""
        with Project({"test_hangs": HANGS}) as project:
            run = project.run(
                "--timeout", "1", "--executor", "hop", "-k", "test_b_", command="manage"
            )
            self.assertEqual(run.code, 1, run.output)
            self.assertIn("could not be cancelled; ending the run", run.output)
            self.assertIn("test_b_blocks_the_loop", run.output)
            self.assertEqual(run.closing_line, "0 passed, 1 failed, 0 skipped")
            self.assertEqual(project.test_dbs_left(), [], run.output)

    def test_a_test_that_cannot_be_cancelled_ends_the_run_cleanly(self):
        with Project({"test_unstoppable": UNSTOPPABLE}) as project:
            run = project.run("--timeout", "1", "--junit-xml", "junit.xml", command="manage")
            self.assertEqual(run.code, 1, run.output)
            report = ElementTree.parse(project.root / "junit.xml").getroot()
            cases = {case.get("name"): case for case in report.iter("testcase")}
            self.assertEqual(sorted(cases), ["test_a_passes", "test_b_swallows_everything"])
            self.assertIsNotNone(cases["test_b_swallows_everything"].find("error"))
            self.assertIn("could not be cancelled; ending the run", run.output)
            self.assertIn("exceeded its 1s timeout", run.output)
            self.assertIn("test_b_swallows_everything", run.output)
            self.assertEqual(run.closing_line, "1 passed, 1 failed, 0 skipped")
            self.assertEqual(project.test_dbs_left(), [], run.output)


PARALLEL_HANG = f"""
import os
import pathlib
import sys
import time

from django.db import connection
from django.test import TestCase

from e2eapp.models import Item

{SWALLOW_EVERYTHING}

def where(test):
    # One write: the parent's progress dots share the pipe and would split a print's parts.
    name = connection.settings_dict["NAME"]
    sys.stdout.write(f"WHERE {{test._testMethodName}} {{os.getpid()}} {{name}}\\n")
    sys.stdout.flush()


class Unstoppable(TestCase):
    def test_a_writes(self):
        where(self)
        Item.objects.create(name="a")

    def test_b_swallows_everything(self):
        Item.objects.create(name="b")
        swallow_everything()

    def test_c_runs_in_the_replacement_worker(self):
        where(self)
        self.assertEqual(Item.objects.count(), 0)
        Item.objects.create(name="c")
        pathlib.Path("c-ran").touch()

    async def test_d_async_too(self):
        self.assertEqual(await Item.objects.acount(), 0)


class Busy(TestCase):
    # Keeps the other worker busy until test_c has run, so only the replacement can run it.
    arunner_timeout = 120

    def test_0(self):
        deadline = time.monotonic() + 60
        while not pathlib.Path("c-ran").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertTrue(pathlib.Path("c-ran").exists())


class Later(TestCase):
    def test_sees_no_rows(self):
        self.assertEqual(Item.objects.count(), 0)
"""


PARALLEL_CRASH = """
import os
import signal
import time

from django.test import TestCase

from e2eapp.models import Item


class Busy(TestCase):
    def test_0(self):
        time.sleep(2)

    def test_1(self):
        time.sleep(2)


class Crashes(TestCase):
    def test_a_writes(self):
        Item.objects.create(name="a")

    def test_b_dies(self):
        Item.objects.create(name="b")
        os.kill(os.getpid(), signal.SIGKILL)

    def test_c_after(self):
        pass


class Later(TestCase):
    def test_sees_no_rows(self):
        self.assertEqual(Item.objects.count(), 0)
"""


PARALLEL_CRASH_IN_A_QUERY = f"""
import os
import signal
import threading
import time

from django.db import connection
from django.test import TestCase

from e2eapp.models import Item


class Busy(TestCase):
    def test_0(self):
        time.sleep(2)


class DiesInAQuery(TestCase):
    def test_killed_while_the_server_runs_its_query(self):
        Item.objects.create(name="rolled back")
        threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGKILL)).start()
        with connection.cursor() as cursor:
            cursor.execute({SLOW_QUERY!r})


class Later(TestCase):
    def test_sees_no_rows(self):
        self.assertEqual(Item.objects.count(), 0)
"""


@tag("cross")
class ParallelLostWorker(SimpleTestCase):
    def test_a_worker_killed_in_a_query_leaves_no_database_behind(self):
        """Its server session runs on until the query ends; the parent ends it, so teardown
        can drop the clone."""
        with Project({"test_parallel_query": PARALLEL_CRASH_IN_A_QUERY}) as project:
            run = project.run("--parallel", "2", command="manage")
            self.assertEqual(run.code, 1, run.output)
            self.assertIn("ERROR: test_killed_while_the_server_runs_its_query", run.output)
            self.assertNotIn("Traceback (most recent call last)", run.output)
            self.assertEqual(run.closing_line, "2 passed, 1 failed, 0 skipped", run.output)
            self.assertEqual(project.test_dbs_left(), [], run.output)

    def test_only_the_worker_is_lost_and_the_run_goes_on(self):
        with Project({"test_parallel_hang": PARALLEL_HANG}) as project:
            run = project.run(
                "--timeout", "1", "--parallel", "2", "--junit-xml", "j.xml", command="manage"
            )
            self.assertEqual(run.code, 1, run.output)
            self.assertIn(
                "could not be cancelled; ending this --parallel worker; the run goes on",
                run.output,
            )
            self.assertIn("ERROR: test_b_swallows_everything", run.output)
            self.assertIn("exceeded its 1s timeout", run.output)
            self.assertIn("Ran 6 tests", run.output)
            self.assertEqual(run.closing_line, "5 passed, 1 failed, 0 skipped", run.output)
            names = [
                c.get("name") for c in ElementTree.parse(project.root / "j.xml").iter("testcase")
            ]
            self.assertEqual(len(names), 6, names)
            self.assertIn("test_c_runs_in_the_replacement_worker", names)
            first, after = (
                _where(run.output, "test_a_writes"),
                _where(run.output, "test_c_runs_in_the_replacement_worker"),
            )
            self.assertNotEqual(first[0], after[0], "test_c ran in the worker that was ended")
            self.assertEqual(first[1], after[1], "the replacement took another clone")
            self.assertEqual(project.test_dbs_left(), [])

    def test_a_worker_that_dies_loses_only_its_unfinished_tests(self):
        with Project({"test_parallel_crash": PARALLEL_CRASH}) as project:
            run = project.run("--parallel", "2", "--junit-xml", "j.xml", command="manage")
            self.assertEqual(run.code, 1, run.output)
            for name in ("test_b_dies", "test_c_after"):
                self.assertIn(f"ERROR: {name}", run.output)
            self.assertIn("WorkerLostError: The --parallel worker running it", run.output)
            self.assertIn("Ran 6 tests", run.output)
            self.assertEqual(run.closing_line, "4 passed, 2 failed, 0 skipped", run.output)
            cases = list(ElementTree.parse(project.root / "j.xml").getroot().iter("testcase"))
            self.assertEqual(
                sorted(c.get("name") for c in cases if c.find("error") is not None),
                ["test_b_dies", "test_c_after"],
            )
            self.assertIn("test_a_writes", [c.get("name") for c in cases])
            self.assertEqual(project.test_dbs_left(), [])


def _where(output, name):
    """The (pid, database) a test of PARALLEL_HANG printed."""
    match = re.search(rf"WHERE {name} (\d+) (\S+)", output)
    assert match is not None, output
    return match.group(1), match.group(2)


@tag("one_db")
class Diagnostics(SimpleTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.project = Project({"test_diagnostics": DIAGNOSTICS})

    @classmethod
    def tearDownClass(cls):
        cls.project.cleanup()
        super().tearDownClass()

    def test_by_default_they_are_reported_against_their_test(self):
        run = self.project.run("-v", "2", command="manage")
        self.assertEqual(run.code, 0, run.output)
        self.assertIn("LeftoverTaskWarning", run.output)
        self.assertIn("was never awaited (during e2eapp.tests.test_diagnostics", run.output)
        self.assertNotIn("SlowCallbackWarning", run.output)

    def test_strict_options_make_them_errors(self):
        run = self.project.run("--strict-tasks", "--strict", command="manage")
        self.assertEqual(run.code, 1, run.output)
        self.assertIn("ERROR: test_leftover_task", run.output)
        self.assertIn("cancelled (--strict-tasks)", run.output)
        self.assertIn("FAIL: test_unawaited_coroutine", run.output)
        self.assertIn("UnawaitedCoroutineError", run.output)

    def test_asyncio_debug_reports_slow_callbacks(self):
        run = self.project.run("--asyncio-debug", command="manage")
        self.assertIn("SlowCallbackWarning", run.output)
        self.assertIn("e2eapp.tests.test_diagnostics.Diagnostics.test_slow_callback", run.output)

    def test_uvloop(self):
        run = self.project.run("--loop", "uvloop", "-k", "test_loop_type", command="manage")
        self.assertEqual(run.code, 0, run.output)
        self.assertIn("LOOP uvloop", run.output)
