"""Canaries: one per private name in ``arunner.inventory``.

Each fails loudly, naming the private name, when a release of Django, asgiref, unittest or
asyncio changes it. CI runs them on the oldest and newest supported releases.
"""

import asyncio
import inspect
import threading
import unittest

from asgiref.sync import AsyncToSync
from django.db import connection, transaction
from django.test import SimpleTestCase, TestCase

from arunner import inventory


class AsyncioPrivates(SimpleTestCase):
    def test_running_loop_accessors(self):
        loop = asyncio.new_event_loop()
        try:
            self.assertIsNone(inventory.get_running_loop_or_none())
            inventory.set_running_loop(loop)
            self.assertIs(inventory.get_running_loop_or_none(), loop)
        finally:
            inventory.set_running_loop(None)
            loop.close()

    def test_shield_callback_name(self):
        async def main():
            inner = asyncio.ensure_future(asyncio.sleep(1))
            outer = asyncio.ensure_future(asyncio.shield(inner))
            await asyncio.sleep(0)
            plain = asyncio.ensure_future(asyncio.sleep(1))
            found = (inventory.is_shielded(inner), inventory.is_shielded(plain))
            for task in (inner, outer, plain):
                task.cancel()
            await asyncio.gather(inner, outer, plain, return_exceptions=True)
            return found

        self.assertEqual(asyncio.run(main()), (True, False))


class AsgirefPrivates(SimpleTestCase):
    def test_loop_thread_executors_is_the_fallback_map(self):
        self.assertIs(inventory.loop_thread_executors, AsyncToSync.loop_thread_executors)
        self.assertIsInstance(AsyncToSync.loop_thread_executors, dict)

    def test_async_to_sync_falls_back_to_a_new_loop_on_runtime_error(self):
        """The inline executor relies on this: a RuntimeError from call_soon_threadsafe of
        the outer loop makes AsyncToSync run the coroutine on a loop of its own."""
        source = inspect.getsource(AsyncToSync.__call__)
        self.assertIn("call_soon_threadsafe", source)
        self.assertIn("except RuntimeError", source)

    def test_thread_handler_name_for_job_names(self):
        from asgiref.sync import SyncToAsync

        self.assertEqual(SyncToAsync.thread_handler.__qualname__, "SyncToAsync.thread_handler")


class UnittestPrivates(SimpleTestCase):
    def test_phase_hooks_exist(self):
        for name in inventory.UNITTEST_PHASES:
            self.assertTrue(callable(getattr(unittest.TestCase, name, None)), name)

    def test_phase_hooks_are_called_by_run(self):
        source = inspect.getsource(unittest.TestCase.run)
        for name in ("_callSetUp", "_callTestMethod", "_callTearDown"):
            self.assertIn(name, source)
        self.assertIn("_callCleanup", inspect.getsource(unittest.TestCase.doCleanups))

    def test_isolated_asyncio_loop_setup_names(self):
        for name in inventory.ISOLATED_ASYNCIO_SETUP:
            self.assertTrue(
                callable(getattr(unittest.IsolatedAsyncioTestCase, name, None)), name
            )

    def test_suite_class_setup_hook(self):
        self.assertTrue(callable(unittest.TestSuite._handleClassSetUp))
        self.assertIn("_handleClassSetUp", inspect.getsource(unittest.TestSuite.run))

    def test_thread_target(self):
        def work():
            pass

        thread = threading.Thread(target=work)
        self.assertIs(inventory.thread_target(thread), work)


class DjangoPrivates(TestCase):
    def test_test_atomics_are_marked_and_found(self):
        self.assertTrue(inventory.in_test_atomic(connection))

    def test_user_atomic_is_not_a_test_atomic(self):
        with transaction.atomic():
            blocks = connection.atomic_blocks
            self.assertTrue(getattr(blocks[0], "_from_testcase", False))
            self.assertFalse(getattr(blocks[-1], "_from_testcase", False))

    def test_mark_testcase_atomic(self):
        atomic = transaction.atomic()
        inventory.mark_testcase_atomic(atomic)
        self.assertTrue(atomic._from_testcase)

    def test_testcase_enter_atomics_sets_the_flag(self):
        self.assertIn("_from_testcase", inspect.getsource(TestCase._enter_atomics))


class CleanupCount(SimpleTestCase):
    def test_cleanup_count_reads_registered_cleanups(self):
        before = inventory.cleanup_count(self)
        self.addCleanup(lambda: None)
        self.assertEqual(inventory.cleanup_count(self), before + 1)
