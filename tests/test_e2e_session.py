"""How arunner holds a coroutine test: a finished test is not kept alive by arunner, and the
marks unittest reads from the test method still apply.

A suite of thousands of coroutine tests must not keep each finished test, its phase hooks
and its session (and what they refer to: the test's loop, its rows) for the rest of the run.
"""

from django.test import SimpleTestCase, tag

from tests.e2e import Project

RELEASED = """
import asyncio
import gc
import weakref

from django.test import TestCase

from arunner.core.loops import OWNER
from e2eapp.models import Item

REFS = {}


class Released(TestCase):
    def remember(self, name):
        REFS[f"{name} test"] = weakref.ref(self)
        REFS[f"{name} session"] = weakref.ref(OWNER.get())

    async def asyncSetUp(self):
        self.item = await Item.objects.acreate(name="set up")

    async def test_a_orm(self):
        self.remember("a")
        self.assertEqual(await Item.objects.acount(), 1)

    async def test_b_task_and_cleanup(self):
        self.remember("b")
        self.addAsyncCleanup(asyncio.sleep, 0)
        await asyncio.create_task(asyncio.sleep(0))

    def test_z_earlier_tests_are_released(self):
        gc.collect()
        alive = sorted(name for name, ref in REFS.items() if ref() is not None)
        self.assertEqual(len(REFS), 4)
        self.assertEqual(alive, [])
"""

MARKED = """
import unittest

from django.test import TestCase


class Marked(TestCase):
    async def test_passes(self):
        pass

    @unittest.skip("not today")
    async def test_skipped(self):
        raise AssertionError("a skipped test ran")

    @unittest.expectedFailure
    async def test_expected_failure(self):
        self.fail("known")

    @unittest.expectedFailure
    async def test_unexpected_success(self):
        pass
"""


@tag("cross")
class FinishedTestsAreReleased(SimpleTestCase):
    def test_nothing_keeps_a_finished_coroutine_test_alive(self):
        with Project({"test_released": RELEASED}) as project:
            for executor in ("inline", "hop"):
                with self.subTest(executor=executor):
                    run = project.run("--executor", executor)
                    self.assertEqual(run.closing_line, "3 passed, 0 failed, 0 skipped", run.output)


@tag("one_db")
class MarkedCoroutineTests(SimpleTestCase):
    def test_skip_and_expected_failure_marks_apply(self):
        """arunner puts Django's ``async_to_sync`` wrapper in place of the coroutine method
        and awaits the method itself; the marks unittest reads from the method still count."""
        with Project({"test_marked": MARKED}) as project:
            run = project.run("-v", "2")
            self.assertIn("test_skipped", run.output)
            self.assertIn("skipped 'not today'", run.output)
            self.assertIn("expected failure", run.output)
            self.assertIn("unexpected success", run.output)
            self.assertNotIn("a skipped test ran", run.output)
            # Python 3.12 leaves a decorator-skipped test out of testsRun, so only the
            # failed and skipped counts are the same on every version.
            self.assertTrue(run.closing_line.endswith(" passed, 1 failed, 1 skipped"), run.output)
