"""One ``contextvars.Context`` per coroutine test, and the test method as Django shows it.

A coroutine test's sync phases (``setUp``, ``tearDown``, sync cleanups) run directly on the
test's thread in the context its coroutine phases run in, as ``IsolatedAsyncioTestCase``
runs them: a ``ContextVar`` token made in ``setUp`` resets in ``tearDown`` or a cleanup, a
value set in any phase (an ``asgiref.local.Local``'s too) is seen by the later ones, and
``async_to_sync`` works in a sync hook.
From set-up to the cleanups the bound test method is what ``DiscoverRunner`` shows: Django's
``async_to_sync`` wrapper on Django's classes, the coroutine method on unittest's.
"""

from django.test import SimpleTestCase, tag

from tests.e2e import Project

PHASES = """
import contextvars
import inspect
import unittest

from asgiref.local import Local
from asgiref.sync import AsyncToSync, async_to_sync
from django.test import SimpleTestCase, TestCase, TransactionTestCase

from e2eapp.models import Item

SET_UP = contextvars.ContextVar("set_up", default=None)
CLEANED_UP = contextvars.ContextVar("cleaned_up", default=None)
ASYNC_SET_UP = contextvars.ContextVar("async_set_up", default=None)
BODY = contextvars.ContextVar("body", default=None)
LOCAL = Local()


async def current(var):
    return var.get()


class Phases:
    #: Whether the class is one of Django's, which wraps coroutine test methods.
    django = True
    #: Whether the test may use the database.
    orm = True

    def setUp(self):
        self.token = SET_UP.set("setUp")
        LOCAL.phase = "setUp"
        self.addCleanup(CLEANED_UP.reset, CLEANED_UP.set("setUp"))
        self.addCleanup(self.check_method, "a cleanup")
        self.check_method("setUp")
        self.assertEqual(async_to_sync(current)(SET_UP), "setUp")
        if self.orm:
            async_to_sync(Item.objects.acreate)(name="setUp")

    async def asyncSetUp(self):
        self.assertEqual(SET_UP.get(), "setUp")
        ASYNC_SET_UP.set("asyncSetUp")

    async def test_coroutine(self):
        self.assertEqual(
            (SET_UP.get(), CLEANED_UP.get(), ASYNC_SET_UP.get()),
            ("setUp", "setUp", "asyncSetUp"),
        )
        self.assertEqual(LOCAL.phase, "setUp")
        if self.orm:
            self.assertEqual(await Item.objects.acount(), 1)
        BODY.set("test")
        LOCAL.phase = "test"

    def test_sync(self):
        self.assertEqual((SET_UP.get(), ASYNC_SET_UP.get()), ("setUp", "asyncSetUp"))
        self.assertEqual(LOCAL.phase, "setUp")
        BODY.set("test")
        LOCAL.phase = "test"

    async def asyncTearDown(self):
        self.assertEqual((BODY.get(), LOCAL.phase), ("test", "test"))

    def tearDown(self):
        self.assertEqual((BODY.get(), LOCAL.phase), ("test", "test"))
        self.assertEqual(async_to_sync(current)(BODY), "test")
        self.check_method("tearDown")
        SET_UP.reset(self.token)
        self.assertIsNone(SET_UP.get())

    def check_method(self, phase):
        method = getattr(self, self._testMethodName)
        function = getattr(type(self), self._testMethodName)
        if not inspect.iscoroutinefunction(function):
            expected = inspect.ismethod(method) and method.__func__ is function
        elif self.django:
            expected = isinstance(method, AsyncToSync)
        else:
            expected = inspect.ismethod(method) and method.__func__ is function
        if not expected:
            raise AssertionError(f"in {phase}, the test method is {method!r}")


class DjangoTestCase(Phases, TestCase):
    pass


class DjangoTransactionTestCase(Phases, TransactionTestCase):
    pass


class DjangoSimpleTestCase(Phases, SimpleTestCase):
    orm = False


class UnittestTestCase(Phases, unittest.TestCase):
    django = False


class UnittestIsolatedAsyncioTestCase(Phases, unittest.IsolatedAsyncioTestCase):
    django = False


class DjangoChecksTheWrapper(SimpleTestCase):
    \"\"\"As Django's own async tests do (``auth_tests.test_remote_user``).\"\"\"

    def setUp(self):
        if not isinstance(getattr(self, self._testMethodName), AsyncToSync):
            self.skipTest("the test method is not async_to_sync's")

    async def test_runs(self):
        pass
"""

HANGS_IN_SET_UP = """
import time

from django.test import TestCase

import arunner


class HangsInSyncSetUp(TestCase):
    def setUp(self):
        if self._testMethodName == "test_times_out":
            time.sleep(60)

    @arunner.timeout(0.5)
    async def test_times_out(self):
        pass

    async def test_next_test_runs(self):
        pass
"""

ALL_PASS = "11 passed, 0 failed, 0 skipped"


@tag("cross")
class OneContextPerTest(SimpleTestCase):
    def test_every_phase_shares_the_tests_context_in_both_executors(self):
        with Project({"test_phases": PHASES}) as project:
            for executor in ("inline", "hop"):
                with self.subTest(executor=executor):
                    run = project.run("--executor", executor, "-v", "2")
                    self.assertEqual(run.closing_line, ALL_PASS, run.output)
                    self.assertEqual(run.code, 0, run.output)
                    self.assertNotIn("skipped", run.output.replace(ALL_PASS, ""), run.output)

    def test_manage_py_test_runs_them_the_same(self):
        with Project({"test_phases": PHASES}) as project:
            run = project.run("--executor", "hop", command="manage")
            self.assertEqual(run.closing_line, ALL_PASS, run.output)

    def test_a_sync_set_up_that_hangs_times_out(self):
        """The sync phase runs on the test's thread, outside any task: the watchdog interrupts
        that thread, as it does a sync test's."""
        with Project({"test_hangs": HANGS_IN_SET_UP}) as project:
            for executor in ("inline", "hop"):
                with self.subTest(executor=executor):
                    run = project.run("--executor", executor)
                    self.assertIn("TestTimeoutError", run.output)
                    self.assertIn("exceeded its 0.5s timeout", run.output)
                    self.assertEqual(run.closing_line, "1 passed, 1 failed, 0 skipped", run.output)
