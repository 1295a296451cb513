"""arunner's protective refusals: where they fire, where nothing is at stake, and ``--compat``.

Each project is run three ways: by default, under ``--compat`` (through a different source
each time: the flag of ``manage.py test``, ``ARUNNER_COMPAT``, ``[tool.arunner]``), and under
Django's ``DiscoverRunner``; ``--compat`` must fail exactly the tests DiscoverRunner fails.
"""

import re

from django.test import SimpleTestCase, tag

from tests.e2e import Project, Run

DISCOVER_RUNNER = ("--testrunner", "django.test.runner.DiscoverRunner")

_FAILURE = re.compile(r"^(?:ERROR|FAIL): \w+ \(e2eapp\.tests\.\w+\.(\w+\.\w+)\)", re.MULTILINE)


def failing(run: Run) -> set[str]:
    """``Class.test`` of every test the run failed, from unittest's failure headers."""
    return set(_FAILURE.findall(run.output))


THREADS = """
import asyncio

from django.db import connection, connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.test import SimpleTestCase, TestCase

from e2eapp.models import Item, Marker


def write(label):
    Marker.objects.create(label=label)


class Guarded(TestCase):
    async def test_worker_write(self):
        await asyncio.to_thread(write, "worker")

    def test_second_connection_write(self):
        other = connections.create_connection("default")
        try:
            with other.cursor() as cursor:
                cursor.execute("INSERT INTO e2eapp_marker (label) VALUES ('second')")
        finally:
            BaseDatabaseWrapper.close(other)

    def test_close(self):
        Item.objects.create(name="closed")
        connection.close()

    def test_z_after_close(self):
        self.assertEqual(Item.objects.count(), 0)


class OptedIn(TestCase):
    arunner_db_threads = "strict"

    async def test_worker_write(self):
        await asyncio.to_thread(write, "opted in")


class NothingAtStake(SimpleTestCase):
    databases = {"default"}

    async def test_worker_write(self):
        await asyncio.to_thread(write, "simple")

    def test_close(self):
        self.assertEqual(Marker.objects.filter(label="nothing").count(), 0)
        connection.close()
"""

THREADS_NO_DATABASE = """
import asyncio
import unittest

from e2eapp.models import Marker


class UnittestWithoutDatabase(unittest.IsolatedAsyncioTestCase):
    databases = set()

    async def test_worker_write(self):
        await asyncio.to_thread(Marker.objects.create, label="unittest")
"""


@tag("cross")
class WorkerThreadsAndConnections(SimpleTestCase):
    """Worker-thread SQL, writes through a second connection, ``connection.close()``."""

    def test_refused_where_a_transaction_is_held_and_off_under_compat(self):
        tests = {"test_threads": THREADS, "test_threads_unittest": THREADS_NO_DATABASE}
        with Project(tests) as project:
            run = project.run("--keepdb", command="manage")
            refused = {
                "Guarded.test_worker_write",
                "Guarded.test_second_connection_write",
                "Guarded.test_close",
                "OptedIn.test_worker_write",
            }
            self.assertEqual(failing(run), refused, run.output)
            self.assertIn("EscapedQueryError", run.output)
            self.assertIn("LeakedWriteError", run.output)
            self.assertIn("TestConnectionClosedError", run.output)
            # What no transaction protects commits, as it would on the test's own thread.
            committed = project.test_db_count("e2eapp_marker")
            self.assertEqual(committed, 2, run.output)

            compat = project.run("--keepdb", "--compat", command="manage")
            django = project.run("--keepdb", *DISCOVER_RUNNER, command="manage")
            self.assertEqual(django.code, 1, django.output)
            self.assertEqual(failing(django), {"Guarded.test_z_after_close"}, django.output)
            # A class that names its mode keeps it under --compat: the step-by-step way back.
            self.assertEqual(failing(compat), failing(django) | {"OptedIn.test_worker_write"})
            self.assertIn("Ran 8 tests", compat.output)
            # Worker, second connection, simple and unittest commit under both; the opted-in
            # class's worker under DiscoverRunner only.
            self.assertEqual(project.test_db_count("e2eapp_marker"), committed + 4 + 5)


LEFTOVERS = """
import asyncio
import threading
import time
import unittest

from django.test import SimpleTestCase, TestCase, TransactionTestCase

LATE = 1.0  # seconds: far longer than the grace period the run is given


def nap():
    time.sleep(LATE)


async def stubborn():
    deadline = time.monotonic() + LATE
    while time.monotonic() < deadline:
        try:
            await asyncio.sleep(0.05)
        except asyncio.CancelledError:
            pass


class Guarded(TestCase):
    async def test_executor_job(self):
        asyncio.get_running_loop().run_in_executor(None, nap)

    async def test_thread(self):
        threading.Thread(target=nap).start()

    async def test_task(self):
        asyncio.create_task(stubborn())


class GuardedUnittest(unittest.IsolatedAsyncioTestCase):
    async def test_executor_job(self):
        asyncio.get_running_loop().run_in_executor(None, nap)


class Commits(TransactionTestCase):
    async def test_executor_job(self):
        asyncio.get_running_loop().run_in_executor(None, nap)


class Simple(SimpleTestCase):
    async def test_thread(self):
        threading.Thread(target=nap).start()

    async def test_task(self):
        asyncio.create_task(stubborn())


class UnittestWithoutDatabase(unittest.IsolatedAsyncioTestCase):
    databases = set()

    async def test_thread(self):
        threading.Thread(target=nap).start()
"""


@tag("cross")
class LeftoverWork(SimpleTestCase):
    """Threads, executor jobs and tasks that outlive the grace period."""

    def test_an_error_where_a_transaction_is_held_a_warning_elsewhere_and_under_compat(self):
        with Project({"test_leftovers": LEFTOVERS}) as project:
            grace = {"ARUNNER_TASK_GRACE": "0.2"}
            run = project.run(env=grace)
            guarded = {
                "Guarded.test_executor_job",
                "Guarded.test_thread",
                "Guarded.test_task",
                "GuardedUnittest.test_executor_job",
            }
            self.assertEqual(failing(run), guarded, run.output)
            self.assertEqual(run.output.count("LeftoverError"), 4, run.output)
            self.assertEqual(run.output.count("could not stop them"), 4, run.output)
            self.assertEqual(run.closing_line, "4 passed, 4 failed, 0 skipped", run.output)

            compat = project.run(env={**grace, "ARUNNER_COMPAT": "1"})
            self.assertEqual(compat.closing_line, "8 passed, 0 failed, 0 skipped", compat.output)
            self.assertEqual(compat.output.count("could not stop them"), 8, compat.output)
            django = project.run(*DISCOVER_RUNNER, command="manage")
            self.assertEqual(django.code, 0, django.output)
            self.assertIn("Ran 8 tests", django.output)


UNITTEST_DATABASES = """
import unittest

from django.core.exceptions import ImproperlyConfigured
from django.db import connections
from django.test import TestCase

from e2eapp.models import Item


class DjangoTests(TestCase):
    def test_nothing(self):
        pass


class RolledBack(unittest.IsolatedAsyncioTestCase):
    async def test_1_write(self):
        await Item.objects.acreate(name="unittest")

    async def test_2_rolled_back(self):
        self.assertEqual(await Item.objects.acount(), 0)


class NoTestDatabase(unittest.TestCase):
    def test_real_database(self):
        with connections["real"].cursor() as cursor:
            cursor.execute("SELECT 1")


class NoDatabaseAtAll(unittest.TestCase):
    def test_dummy_backend(self):
        with self.assertRaisesRegex(ImproperlyConfigured, "DATABASES is improperly configured"):
            connections["nothing"].ensure_connection()
"""

#: Two aliases no test class declares: a real database, and none at all (the dummy backend).
EXTRA_ALIASES = """
DATABASES["real"] = {"ENGINE": "django.db.backends.sqlite3", "NAME": str(BASE / "real.sqlite3")}
DATABASES["nothing"] = {}
"""


@tag("cross")
class UnittestRollbackAndDatabasesWithoutTestDatabase(SimpleTestCase):
    """The rollback of unittest coroutine tests, and connections no test database serves.

    DiscoverRunner sets up test databases only for Django's test classes: ``DjangoTests``
    makes it set up ``default``, which arunner sets up for unittest coroutine tests anyway.
    """

    def test_on_by_default_off_under_compat(self):
        with Project({"test_unittest": UNITTEST_DATABASES}) as project:
            settings = project.root / "e2eproject" / "settings.py"
            source = "from pathlib import Path\nBASE = Path(__file__).resolve().parent.parent\n"
            project.write("e2eproject/settings.py", source + settings.read_text() + EXTRA_ALIASES)
            real = project.root / "real.sqlite3"

            run = project.run("--keepdb")
            self.assertEqual(failing(run), {"NoTestDatabase.test_real_database"}, run.output)
            self.assertIn("NoTestDatabaseError", run.output)
            self.assertEqual(project.test_db_count("e2eapp_item"), 0)
            self.assertFalse(real.exists())

            project.write("pyproject.toml", "[tool.arunner]\ncompat = true\n")
            compat = project.run("--keepdb")
            self.assertTrue(real.exists())
            real.unlink()
            self.assertEqual(project.test_db_count("e2eapp_item"), 1)
            django = project.run("--keepdb", *DISCOVER_RUNNER, command="manage")
            self.assertTrue(real.exists())
            self.assertEqual(project.test_db_count("e2eapp_item"), 2)
            self.assertEqual(failing(django), {"RolledBack.test_2_rolled_back"}, django.output)
            self.assertEqual(failing(compat), failing(django), compat.output)
            self.assertEqual(compat.closing_line, "4 passed, 1 failed, 0 skipped", compat.output)
