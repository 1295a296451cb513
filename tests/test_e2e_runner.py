"""``manage.py test`` with arunner as ``TEST_RUNNER``, run as a user runs it."""

import sys

from django.test import SimpleTestCase, tag

from tests.e2e import Project

ISOLATED_ONLY = """
import unittest

from e2eapp.models import Item


class OnlyIsolated(unittest.IsolatedAsyncioTestCase):
    async def test_1_write(self):
        await Item.objects.acreate(name="isolated")

    async def test_2_rolled_back(self):
        self.assertEqual(await Item.objects.acount(), 0)
"""

NO_DATABASE = """
import unittest

from e2eapp.models import Item


class NoDatabases(unittest.TestCase):
    databases = set()

    def test_orm(self):
        Item.objects.create(name="real")
"""

MIXED = """
import asyncio

from django.test import TestCase, tag

from e2eapp.models import Item


class Async{n}(TestCase):
    async def test_write(self):
        await Item.objects.acreate(name="a")
        self.assertEqual(await Item.objects.acount(), 1)

    @tag("slow")
    async def test_tagged(self):
        await asyncio.sleep(0)
        self.assertEqual(await Item.objects.acount(), 0)

    def test_sync(self):
        self.assertEqual(Item.objects.count(), 0)
"""

FAILING = """
from django.test import TestCase

from e2eapp.models import Item


class Failing(TestCase):
    async def test_fails(self):
        await Item.objects.acreate(name="x")
        self.assertEqual(await Item.objects.acount(), 2)

    async def test_errors(self):
        raise RuntimeError("boom")

    async def test_passes(self):
        self.assertEqual(await Item.objects.acount(), 0)
"""

ESCAPE = """
import asyncio

from django.test import TestCase

from e2eapp.models import Marker


def write():
    Marker.objects.create(label="escaped")


class Escapes(TestCase):
    async def test_to_thread_write(self):
        await asyncio.to_thread(write)
"""


@tag("cross")
class RealDatabaseIsNeverTouched(SimpleTestCase):
    def test_isolated_asyncio_only_run_gets_a_test_database(self):
        with Project({"test_iso": ISOLATED_ONLY}) as project:
            run = project.run("-v", "2", command="manage")
            self.assertEqual(run.code, 0, run.output)
            self.assertIn("Creating test database", run.output)
            self.assertEqual(run.closing_line, "2 passed, 0 failed, 0 skipped")
            self.assertFalse(project.real_db_exists(), run.output)

    def test_a_run_without_test_database_refuses_the_orm(self):
        with Project({"test_nodb": NO_DATABASE}) as project:
            run = project.run(command="manage")
            self.assertEqual(run.code, 1, run.output)
            self.assertIn("NoTestDatabaseError", run.output)
            self.assertIn("set up no test database", run.output)
            self.assertEqual(run.closing_line, "0 passed, 1 failed, 0 skipped")
            self.assertFalse(project.real_db_exists(), run.output)


@tag("one_db")
class DropIn(SimpleTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        tests = {f"test_mixed{n}": MIXED.format(n=n) for n in range(3)}
        tests["test_failing"] = FAILING
        tests["test_isolated"] = ISOLATED_ONLY
        cls.project = Project(tests)

    @classmethod
    def tearDownClass(cls):
        cls.project.cleanup()
        super().tearDownClass()

    def test_failures_are_counted_and_exit_1(self):
        run = self.project.run("e2eapp.tests.test_failing", command="manage")
        self.assertEqual(run.code, 1, run.output)
        self.assertIn("FAILED (failures=1, errors=1)", run.output)
        self.assertIn("Ran 3 tests", run.output)
        self.assertEqual(run.closing_line, "1 passed, 2 failed, 0 skipped")

    def test_labels_tags_and_patterns(self):
        run = self.project.run("e2eapp.tests.test_mixed0", "--tag", "slow", command="manage")
        self.assertEqual(run.closing_line, "1 passed, 0 failed, 0 skipped", run.output)
        run = self.project.run("--exclude-tag", "slow", "-k", "test_write", command="manage")
        self.assertEqual(run.closing_line, "3 passed, 0 failed, 0 skipped", run.output)
        run = self.project.run("-p", "test_mixed*.py", command="manage")
        self.assertEqual(run.closing_line, "9 passed, 0 failed, 0 skipped", run.output)

    def test_order_options(self):
        for option in (["--reverse"], ["--shuffle", "42"], ["--buffer"], ["--timing"]):
            run = self.project.run("-p", "test_mixed*.py", *option, command="manage")
            self.assertEqual(run.code, 0, (option, run.output))
            self.assertEqual(run.closing_line, "9 passed, 0 failed, 0 skipped", option)
        run = self.project.run("-p", "test_mixed*.py", "--shuffle", "42", command="manage")
        self.assertIn("Used shuffle seed: 42", run.output)

    def test_failfast_stops_at_the_first_failure(self):
        run = self.project.run("e2eapp.tests.test_failing", "--failfast", command="manage")
        self.assertEqual(run.code, 1)
        self.assertIn("Ran 1 test", run.output)

    def test_debug_sql_prints_the_async_tests_queries(self):
        run = self.project.run(
            "e2eapp.tests.test_failing.Failing.test_fails", "--debug-sql", command="manage"
        )
        self.assertRegex(run.output, r"INSERT INTO [\"`]?e2eapp_item")

    def test_parallel_runs_async_tests_in_workers(self):
        run = self.project.run("--parallel", "2", "-v", "2", command="manage")
        self.assertEqual(run.code, 1, run.output)
        self.assertIn("Cloning test database", run.output)
        self.assertEqual(run.closing_line, "12 passed, 2 failed, 0 skipped", run.output)

    def test_durations(self):
        if sys.version_info < (3, 12):
            self.skipTest("DiscoverRunner offers --durations on Python 3.12+ only")
        run = self.project.run("-p", "test_mixed*.py", "--durations", "3", command="manage")
        self.assertIn("Slowest test durations", run.output)

    def test_bad_option_value_is_a_clear_error(self):
        run = self.project.run("--executor", "nope", command="manage")
        self.assertNotEqual(run.code, 0)
        self.assertIn("invalid choice: 'nope'", run.output)
        run = self.project.run(command="manage", env={"ARUNNER_TASK_GRACE": "soon"})
        self.assertIn("ARUNNER_TASK_GRACE: 'soon' is not a valid value", run.output)
        self.assertNotIn("Traceback", run.output)


@tag("cross")
class StrictEscapes(SimpleTestCase):
    def test_worker_thread_write_is_refused_and_never_committed(self):
        with Project({"test_escape": ESCAPE}) as project:
            run = project.run("--keepdb", command="manage")
            self.assertEqual(run.code, 1, run.output)
            for fragment in (
                "EscapedQueryError",
                "e2eapp.tests.test_escape.Escapes.test_to_thread_write",
                "from thread 'asyncio_0'",
                "on database 'default'",
                "--db-threads route",
                "TransactionTestCase",
            ):
                self.assertIn(fragment, run.output)
            # The first statement refused is the thread's first: the INSERT, or on MariaDB
            # the server-version probe Django runs on a new connection before it.
            self.assertRegex(run.output, r"(INSERT INTO|SELECT VERSION)")
            self.assertEqual(project.test_db_count("e2eapp_marker"), 0)
