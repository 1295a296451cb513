"""The end of a test: what arunner checks once the test's own cleanups have run.

unittest's ``TestCase.run`` ends with ``doCleanups``; arunner ends the test right after it,
so a worker thread's refused write in a cleanup still fails the test. A class that replaces
``doCleanups`` and ``TestSuite.debug`` (which never calls it) get the same end as a cleanup.
"""

import os
import sys

from django.test import SimpleTestCase, tag

from tests.e2e import Project, run_command

ENDS = """
import asyncio
import threading
import unittest

from django.test import TestCase

from e2eapp.models import Item


def swallowed_worker_write():
    def work():
        try:
            Item.objects.create(name="worker")
        except Exception:
            pass

    thread = threading.Thread(target=work)
    thread.start()
    thread.join()


class EndsAfterCleanups(TestCase):
    def setUp(self):
        self.addCleanup(swallowed_worker_write)

    def test_a_write_in_a_cleanup_fails_the_test(self):
        pass


class AsyncCleanup(TestCase):
    async def test_b_async_test_and_its_cleanup(self):
        self.addAsyncCleanup(Item.objects.acreate, name="cleanup")
        await Item.objects.acreate(name="test")


class OwnDoCleanups(TestCase):
    def doCleanups(self):
        while self._cleanups:
            function, args, kwargs = self._cleanups.pop()
            function(*args, **kwargs)

    def test_a_worker_write_fails_the_test(self):
        swallowed_worker_write()

    async def test_b_async_test_is_drained_and_rolled_back(self):
        await Item.objects.acreate(name="own")

    async def test_c_nothing_is_left(self):
        self.assertEqual(await Item.objects.acount(), 0)


class OwnDoCleanupsUnittest(unittest.TestCase):
    databases = {"default"}

    def doCleanups(self):
        while self._cleanups:
            function, args, kwargs = self._cleanups.pop()
            function(*args, **kwargs)

    async def test_a_write_is_rolled_back_by_arunner(self):
        await Item.objects.acreate(name="unittest")

    async def test_b_nothing_is_left(self):
        self.assertEqual(await Item.objects.acount(), 0)


class RunsASuite(TestCase):
    def test_its_own_end_still_comes(self):
        from arunner.suite.testsuite import AsyncTestSuite

        class Inner(unittest.TestCase):
            def test_inner(self):
                pass

        swallowed_worker_write()
        inner = unittest.TestResult()
        AsyncTestSuite([Inner("test_inner")]).run(inner)
        self.assertEqual((inner.testsRun, inner.wasSuccessful()), (1, True))


CLEANED = []


class LateCleanup(TestCase):
    async def test_a_a_drained_task_adds_a_cleanup(self):
        async def late():
            await asyncio.sleep(0)
            self.addCleanup(CLEANED.append, "late")

        self.addCleanup(CLEANED.append, "own")  # so the drain comes at the test's end
        asyncio.get_running_loop().create_task(late())

    def test_b_both_cleanups_ran(self):
        self.assertEqual(CLEANED, ["own", "late"])


class AfterAll(TestCase):
    def test_nothing_was_committed(self):
        self.assertEqual(Item.objects.count(), 0)
"""

DEBUG_SCRIPT = """
import django
from django.test.runner import DiscoverRunner
from django.test.utils import setup_test_environment

django.setup()
setup_test_environment()

from arunner.escapes import EscapedQueryError
from arunner.suite.testsuite import AsyncTestSuite
from e2eapp.tests.test_ends import EndsAfterCleanups

runner = DiscoverRunner(verbosity=0, interactive=False)
old = runner.setup_databases()
try:
    suite = AsyncTestSuite([EndsAfterCleanups("test_a_write_in_a_cleanup_fails_the_test")])
    try:
        suite.debug()
    except EscapedQueryError as exc:
        print("DEBUG RAISED", type(exc).__name__)
    else:
        print("DEBUG DID NOT RAISE")
finally:
    runner.teardown_databases(old)
"""


@tag("cross")
class TestEnd(SimpleTestCase):
    def test_the_end_comes_after_the_cleanups_and_with_an_own_do_cleanups(self):
        with Project({"test_ends": ENDS}) as project:
            run = project.run("-v", "2", command="manage")
            out = run.output
            self.assertEqual(run.code, 1, out)
            for name in (
                "EndsAfterCleanups.test_a_write_in_a_cleanup_fails_the_test",
                "OwnDoCleanups.test_a_worker_write_fails_the_test",
                "RunsASuite.test_its_own_end_still_comes",
            ):
                self.assertRegex(out, rf"ERROR: \w+ \([\w.]+{name}\)\n-+\n(.*\n)*?.*Escaped")
            self.assertEqual(out.count("EscapedQueryError: arunner refused"), 3, out)
            self.assertEqual(run.closing_line, "8 passed, 3 failed, 0 skipped")
            self.assertEqual(project.test_dbs_left(), [], out)

    def test_suite_debug_ends_the_test_too(self):
        with Project({"test_ends": ENDS}) as project:
            project.write("debug_run.py", DEBUG_SCRIPT)
            env = {**os.environ, "DJANGO_SETTINGS_MODULE": "e2eproject.settings"}
            run = run_command([sys.executable, "debug_run.py"], project.root, env)
            self.assertIn("DEBUG RAISED EscapedQueryError", run.output)
            self.assertEqual(run.code, 0, run.output)
            self.assertEqual(project.test_dbs_left(), [], run.output)
