"""The hang report's task stacks reach the line where the test waits."""

import asyncio

from django.test import SimpleTestCase

from arunner.timeouts import stacks


async def helper_that_waits():
    await asyncio.sleep(60)


async def test_like_coroutine():
    await helper_that_waits()


class TaskStacks(SimpleTestCase):
    def test_the_report_follows_the_await_chain_to_the_innermost_wait(self):
        loop = asyncio.new_event_loop()
        task = loop.create_task(test_like_coroutine())
        try:
            loop.run_until_complete(asyncio.sleep(0))
            text = stacks.tasks_report(loop, task)
        finally:
            task.cancel()
            loop.run_until_complete(asyncio.gather(task, return_exceptions=True))
            loop.close()
        self.assertIn("--- the test's task", text)
        positions = [
            text.index(f"in {name}\n")
            for name in ("test_like_coroutine", "helper_that_waits", "sleep")
        ]
        self.assertEqual(positions, sorted(positions), text)
