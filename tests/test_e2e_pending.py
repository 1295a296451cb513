"""Leftover work: drained into the test's transaction, cancelled, reported, never committed."""

from django.test import SimpleTestCase, tag

from tests.e2e import Project

LEFTOVERS = """
import asyncio
import threading
import time

from asgiref.sync import sync_to_async
from django.db import connection
from django.test import TestCase

from e2eapp.models import Marker

LATE = 2.0  # seconds: far longer than the grace period the run is given
DRAINED = []  # what the drained task did, read by a later test


def write_marker(label):
    Marker.objects.create(label=label)


class Leftovers(TestCase):
    async def test_a_ignores_cancellation(self):
        async def stubborn():
            deadline = time.monotonic() + LATE
            while time.monotonic() < deadline:
                try:
                    await asyncio.sleep(0.05)
                except asyncio.CancelledError:
                    pass
            await sync_to_async(write_marker)("stubborn")

        asyncio.create_task(stubborn())

    async def test_b_shielded(self):
        async def protected():
            await asyncio.sleep(LATE)
            await sync_to_async(write_marker)("shielded")

        async def outer():
            await asyncio.shield(protected())

        asyncio.create_task(outer())

    async def test_c_executor_job(self):
        def slow_job():
            time.sleep(LATE)
            write_marker("executor")

        asyncio.get_running_loop().run_in_executor(None, slow_job)

    async def test_d_thread(self):
        def slow_thread():
            time.sleep(LATE)
            try:
                write_marker("thread")
            finally:
                connection.close()

        threading.Thread(target=slow_thread, name="late-writer").start()

    async def test_e_cancellable_task_is_only_reported(self):
        async def forgotten():
            await asyncio.sleep(60)
            await sync_to_async(write_marker)("forgotten")

        asyncio.create_task(forgotten())

    async def test_f_drained_task_writes_inside_the_test(self):
        async def quick():
            await asyncio.sleep(0.05)
            await sync_to_async(write_marker)("drained")
            DRAINED.append(await Marker.objects.acount())

        asyncio.create_task(quick())


class ZLater(TestCase):
    async def test_z_late_writes_never_land(self):
        await asyncio.sleep(LATE + 0.5)
        self.assertEqual(await Marker.objects.acount(), 0)

    def test_z_the_drained_task_ran_to_its_end_and_was_rolled_back(self):
        self.assertEqual(DRAINED, [1])
        self.assertEqual(Marker.objects.count(), 0)
"""


@tag("cross")
class LeftoverWork(SimpleTestCase):
    def test_uncancellable_work_errors_and_never_commits(self):
        with Project({"test_leftovers": LEFTOVERS}) as project:
            run = project.run("--keepdb", "--task-grace", "0.3", "-v", "2")
            out = run.output
            self.assertEqual(run.code, 1, out)
            for name in (
                "test_a_ignores_cancellation",
                "test_b_shielded",
                "test_c_executor_job",
                "test_d_thread",
            ):
                self.assertIn(f"ERROR: {name}", out)
            self.assertIn("stubborn", out)
            self.assertIn("protected", out)
            self.assertIn("slow_job", out)
            self.assertIn("late-writer", out)
            self.assertRegex(
                out, r"created at .*test_leftovers\.py:\d+ in test_a_ignores_cancellation"
            )
            self.assertIn("LeftoverTaskWarning", out)
            self.assertIn("forgotten", out)
            self.assertNotIn("ERROR: test_e_cancellable", out)
            self.assertNotIn("ERROR: test_f_drained", out)
            self.assertNotIn("FAIL: test_z_", out)
            self.assertEqual(run.closing_line, "4 passed, 4 failed, 0 skipped")
            self.assertEqual(project.test_db_count("e2eapp_marker"), 0)
