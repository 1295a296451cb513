"""A finished coroutine test leaves nothing behind for the cyclic garbage collector.

Its instance, its phase hooks and its session refer to each other while it runs; arunner
breaks those cycles when the test ends, so they are freed at once. Left to the collector,
its passes cost every coroutine test more than the rest of arunner's per-test work.
"""

from django.test import SimpleTestCase

from tests.e2e import Project

FREED = """
import asyncio
import gc
import weakref

from django.test import TestCase

from arunner.loop import OWNER
from e2eapp.models import Item

REFS = {}


class Freed(TestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        gc.disable()

    @classmethod
    def tearDownClass(cls):
        gc.enable()
        super().tearDownClass()

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

    def test_z_earlier_tests_are_freed(self):
        alive = sorted(name for name, ref in REFS.items() if ref() is not None)
        self.assertEqual(len(REFS), 4)
        self.assertEqual(alive, [])
"""


class FinishedTestsAreFreed(SimpleTestCase):
    def test_without_the_garbage_collector(self):
        with Project({"test_freed": FREED}) as project:
            for executor in ("inline", "hop"):
                with self.subTest(executor=executor):
                    run = project.run("--executor", executor)
                    self.assertEqual(run.closing_line, "3 passed, 0 failed, 0 skipped", run.output)
