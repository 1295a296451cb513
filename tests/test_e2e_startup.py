"""Every valid project starts: the reachability check never stops a server that answers,
never runs a project's ``connection_created`` receivers for a connection ``connections`` does
not know, and a project without a database runs as under DiscoverRunner."""

import re

from django.test import SimpleTestCase, tag

from tests.databases import BACKEND
from tests.e2e import MODELS, Project

#: Like ``django.contrib.postgres``'s receivers: it looks the connection's alias up, and
#: fails for one ``connections`` does not have.
RECEIVER = """
from django.db import connections
from django.db.backends.base.base import NO_DB_ALIAS
from django.db.backends.signals import connection_created
from django.dispatch import receiver

SEEN = []


@receiver(connection_created)
def look_up(sender, connection, **kwargs):
    if connection.alias == NO_DB_ALIAS:
        return  # Django's connection to the server, not to a database: skipped, as
        # django.contrib.postgres's receivers skip it
    if connection.alias not in connections:
        print("UNKNOWN ALIAS", connection.alias, flush=True)
    connections[connection.alias]
    SEEN.append(connection.alias)
"""

RECEIVER_TESTS = """
import asyncio

from django.test import TestCase, TransactionTestCase

from e2eapp.models import SEEN, Item


class Receives(TestCase):
    async def test_async(self):
        await Item.objects.acreate(name="one")
        self.assertEqual(await Item.objects.acount(), 1)
        self.assertIn("default", SEEN)

    def test_sync(self):
        Item.objects.create(name="two")
        self.assertEqual(Item.objects.count(), 1)


class Commits(TransactionTestCase):
    async def test_async(self):
        await Item.objects.acreate(name="three")
        self.assertEqual(await Item.objects.acount(), 1)
"""

CONTRIB_POSTGRES_TESTS = """
from django.contrib.postgres.aggregates import ArrayAgg
from django.test import TestCase

from e2eapp.models import Item


class Aggregates(TestCase):
    async def test_array_agg(self):
        await Item.objects.acreate(name="a")
        await Item.objects.acreate(name="b")
        names = await Item.objects.aaggregate(names=ArrayAgg("name", order_by="name"))
        self.assertEqual(names, {"names": ["a", "b"]})

    def test_sync(self):
        self.assertEqual(Item.objects.count(), 0)


class More(TestCase):
    async def test_count(self):
        self.assertEqual(await Item.objects.acount(), 0)
"""

NO_DATABASE_SETTINGS = """
SECRET_KEY = "e2e"
INSTALLED_APPS = []
TEST_RUNNER = {runner!r}
{databases}
"""

NO_DATABASE_TESTS = """
import asyncio
import sys
import unittest

from django.test import SimpleTestCase


def say_loop(label):
    # One write: under --parallel, two workers print at once.
    sys.stdout.write(f"{label} {type(asyncio.get_running_loop()).__module__}\\n")
    sys.stdout.flush()


class Isolated(unittest.IsolatedAsyncioTestCase):
    async def asyncSetUp(self):
        self.loop = asyncio.get_running_loop()

    async def test_runs(self):
        await asyncio.sleep(0)
        self.assertIs(asyncio.get_running_loop(), self.loop)
        say_loop("LOOP")


class Simple(SimpleTestCase):
    async def test_simple(self):
        await asyncio.sleep(0)
        say_loop("SIMPLE LOOP")


class Sync(unittest.TestCase):
    def test_sync(self):
        pass
"""


#: What the tests print: under --parallel a worker's line may land anywhere in the parent's
#: output, even between a test's name and its status.
_PRINTED = re.compile(r"(?:SIMPLE )?LOOP [\w.]+\n")
_RESULT = re.compile(r"^(test_\w+) \(.*?\) \.\.\. (ok|ERROR|FAIL|skipped.*)$", re.M)


def statuses(output):
    """test name -> its status word, from a ``-v 2`` run."""
    return dict(_RESULT.findall(_PRINTED.sub("", output)))


@tag("cross")
class ProjectsWithReceivers(SimpleTestCase):
    def test_own_receiver_that_looks_up_the_alias(self):
        with Project({"test_receivers": RECEIVER_TESTS}) as project:
            project.write("e2eapp/models.py", MODELS + RECEIVER)
            for command, args in (
                ("arunner", ()),
                ("manage", ()),
                ("arunner", ("--parallel", "2")),
            ):
                run = project.run(*args, command=command)
                self.assertEqual(run.code, 0, (command, args, run.output))
                self.assertEqual(run.closing_line, "3 passed, 0 failed, 0 skipped", run.output)
                self.assertNotIn("UNKNOWN ALIAS", run.output)
                self.assertNotIn("unreachable", run.output)

    def test_django_contrib_postgres(self):
        if BACKEND != "postgres":
            self.skipTest("django.contrib.postgres needs PostgreSQL (ARUNNER_TEST_DB=postgres)")
        with Project({"test_contrib": CONTRIB_POSTGRES_TESTS}) as project:
            project.write(
                "e2eproject/contrib.py",
                "from e2eproject.settings import *  # noqa\n"
                'INSTALLED_APPS = ["django.contrib.postgres", "e2eapp"]\n',
            )
            env = {"DJANGO_SETTINGS_MODULE": "e2eproject.contrib"}
            for command, args in (
                ("arunner", ()),
                ("manage", ()),
                ("arunner", ("--parallel", "2")),
            ):
                run = project.run(*args, command=command, env=env)
                self.assertEqual(run.code, 0, (command, args, run.output))
                self.assertEqual(run.closing_line, "3 passed, 0 failed, 0 skipped", run.output)


@tag("cross")
class ProjectsWithoutADatabase(SimpleTestCase):
    """No ``DATABASES`` (Django's dummy backend), or an empty one: as DiscoverRunner runs
    the tests, arunner runs them, its async tests on arunner's loop."""

    def check(self, databases):
        with Project({"test_nodb": NO_DATABASE_TESTS}) as project:
            runs = {}
            for runner in ("django.test.runner.DiscoverRunner", "arunner.AsyncDiscoverRunner"):
                settings = NO_DATABASE_SETTINGS.format(runner=runner, databases=databases)
                project.write("e2eproject/settings.py", settings)
                runs[runner] = project.run("-v", "2", command="manage")
            runs["arunner"] = project.run("-v", "2")
            runs["arunner --parallel 2"] = project.run("-v", "2", "--parallel", "2")
            expected = {"test_runs": "ok", "test_simple": "ok", "test_sync": "ok"}
            for name, run in runs.items():
                self.assertEqual(run.code, 0, (name, run.output))
                self.assertIn("Ran 3 tests", run.output)
                self.assertEqual(statuses(run.output), expected, (name, run.output))
                self.assertNotIn("unreachable", run.output)
            self.assertIn("LOOP asyncio.", runs["django.test.runner.DiscoverRunner"].output)
            for name in ("arunner.AsyncDiscoverRunner", "arunner", "arunner --parallel 2"):
                self.assertIn("LOOP arunner.core.loops", runs[name].output, name)
                self.assertIn("SIMPLE LOOP arunner.core.loops", runs[name].output, name)
                self.assertEqual(runs[name].closing_line, "3 passed, 0 failed, 0 skipped")

    def test_no_databases_setting(self):
        self.check("")

    def test_empty_databases(self):
        self.check("DATABASES = {}")
