"""What the test loop accepts from its own thread: asyncio's async-generator finaliser is
never refused, a nested ``async_to_sync`` from a sync call still works, and so does a sync
test's ``async_to_sync`` after coroutine tests (asgiref remembers the runner's loop on the
test's thread after thread-sensitive calls; the sync test must not wait for that idle loop).

The generator's ``finally`` records how many rows it sees through the ORM: the row the test
made is visible only inside the test's transaction, so "1" means the generator was closed
before the rollback, on the test's connection.
"""

from django.test import SimpleTestCase, tag

from tests.e2e import Project

LOOP_TESTS = """
import asyncio
from pathlib import Path

from asgiref.sync import async_to_sync, sync_to_async
from django.test import TestCase

from e2eapp.models import Item

RECORD = Path(__file__).resolve().parents[2] / "closed.txt"


async def numbers():
    try:
        yield 1
        yield 2
    finally:
        seen = await Item.objects.acount()
        with RECORD.open("a") as record:
            record.write(f"closed seeing {seen}\\n")


async def inner():
    await Item.objects.acreate(name="made by the nested loop")
    return await Item.objects.acount()


def sync_part():
    return async_to_sync(inner)()


class Loop(TestCase):
    async def test_generator_dropped_mid_iteration(self):
        await Item.objects.acreate(name="made by the test")
        generator = numbers()
        self.assertEqual(await generator.__anext__(), 1)
        del generator

    async def test_nested_async_to_sync_from_a_sync_call(self):
        await Item.objects.acreate(name="made by the test")
        self.assertEqual(await sync_to_async(sync_part)(), 2)
        self.assertEqual(await Item.objects.acount(), 2)

    def test_sync_async_to_sync_after_the_coroutine_tests(self):
        async def count():
            return await Item.objects.acount()

        self.assertEqual(async_to_sync(count)(), 0)
"""


@tag("cross")
class LoopThreadScheduling(SimpleTestCase):
    def test_dropped_generator_is_closed_and_async_to_sync_works(self):
        for executor in ("inline", "hop"):
            with self.subTest(executor=executor), Project({"test_loop": LOOP_TESTS}) as project:
                run = project.run("--executor", executor, "--timeout", "30")
                self.assertEqual(run.closing_line, "3 passed, 0 failed, 0 skipped", run.output)
                self.assertNotIn("cannot run work for its own thread", run.output)
                record = project.root / "closed.txt"
                self.assertTrue(record.exists(), run.output)
                self.assertEqual(record.read_text(), "closed seeing 1\n", run.output)
