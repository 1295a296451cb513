"""Thread-sensitive calls of a coroutine test go through asgiref's public path.

asgiref's own ``sync_to_async`` finds the run's executor through the ``ThreadSensitiveContext``
entered in the loop's context, and the loop's ``run_in_executor`` serves it. These run under
either executor (``--executor inline`` and ``hop``); a few check what only the inline one does.
"""

import asyncio
import contextvars
import threading
import unittest
from concurrent.futures import ThreadPoolExecutor

from asgiref.local import Local
from asgiref.sync import SyncToAsync, ThreadSensitiveContext, async_to_sync, sync_to_async
from channels.db import database_sync_to_async
from django.db import connection
from django.test import TestCase

from arunner.core import inventory
from arunner.core.loops import OWNER, OutsideTestError
from arunner.suite.runcontext import RunContext
from tests.testapp.models import Item

VAR: contextvars.ContextVar[str] = contextvars.ContextVar("thread_sensitive_test_var")
LOCAL = Local()


def holds_the_test_atomic():
    """Whether this thread's connection is inside the test's atomic block."""
    return inventory.in_test_atomic(connection)


class PublicPath(TestCase):
    async def test_asgirefs_call_is_not_replaced(self):
        self.assertEqual(SyncToAsync.__call__.__module__, "asgiref.sync")
        self.assertEqual(SyncToAsync.__init__.__module__, "asgiref.sync")

    async def test_sync_to_async_runs_where_the_test_atomic_is(self):
        self.assertTrue(await sync_to_async(holds_the_test_atomic)())

    async def test_orm_calls_are_served_and_rolled_back(self):
        await Item.objects.acreate(name="served")
        self.assertEqual(await Item.objects.acount(), 1)

    async def test_context_changes_come_back(self):
        def change(value):
            VAR.set(value)
            LOCAL.value = value

        await sync_to_async(change)("changed")
        self.assertEqual(VAR.get(), "changed")
        self.assertEqual(LOCAL.value, "changed")

    async def test_thread_sensitive_false_goes_to_a_pool_thread(self):
        self.assertFalse(await sync_to_async(holds_the_test_atomic, thread_sensitive=False)())

    async def test_another_thread_sensitive_context_keeps_its_executor(self):
        executor = ThreadPoolExecutor(1)
        try:
            async with ThreadSensitiveContext(executor=executor):
                used = await sync_to_async(threading.get_ident)()
            own = executor.submit(threading.get_ident).result()
        finally:
            executor.shutdown()
        self.assertEqual(used, own)

    async def test_a_subclass_thread_handler_is_served_too(self):
        """Channels' ``database_sync_to_async`` closes old connections in its
        ``thread_handler``; the test's own connection survives it."""
        await database_sync_to_async(Item.objects.create)(name="channels")
        self.assertEqual(await database_sync_to_async(Item.objects.count)(), 1)

    async def test_nested_async_to_sync_reaches_the_test_atomic(self):
        async def inner():
            await Item.objects.acreate(name="nested")
            return await sync_to_async(holds_the_test_atomic)()

        self.assertTrue(await sync_to_async(async_to_sync(inner))())
        self.assertEqual(await Item.objects.acount(), 1)

    async def test_a_call_from_another_tests_task_is_refused(self):
        """``OWNER``: a task that outlives its test never runs a call in the next test."""

        async def late():
            OWNER.set(object())
            await sync_to_async(threading.get_ident)()

        with self.assertRaises(OutsideTestError):
            await asyncio.create_task(late())


class OwnThreadScheduling(TestCase):
    """The loop accepts ``call_soon_threadsafe`` from its own thread, asyncio's included."""

    async def test_a_dropped_async_generator_is_closed(self):
        closed = []
        done = asyncio.Event()

        async def numbers():
            try:
                yield 1
                yield 2
            finally:
                closed.append(await Item.objects.acount())
                done.set()

        await Item.objects.acreate(name="seen by finally")
        generator = numbers()
        self.assertEqual(await generator.__anext__(), 1)
        del generator
        await asyncio.wait_for(done.wait(), 5)
        self.assertEqual(closed, [1])

    async def test_create_task_from_a_sync_call_on_the_loops_thread(self):
        loop = asyncio.get_running_loop()
        ran = asyncio.Event()

        async def record():
            ran.set()

        await sync_to_async(loop.call_soon_threadsafe)(loop.create_task, record())
        await asyncio.wait_for(ran.wait(), 5)

    async def test_a_callback_from_a_sync_call_runs(self):
        loop = asyncio.get_running_loop()
        ran = asyncio.Event()
        await sync_to_async(loop.call_soon_threadsafe)(ran.set)
        await asyncio.wait_for(ran.wait(), 5)


class InlineOnly(TestCase):
    @classmethod
    def setUpClass(cls):
        if RunContext.active is None or RunContext.active.config.executor != "inline":
            raise unittest.SkipTest("the run's executor is not inline")
        super().setUpClass()

    async def test_the_call_runs_on_the_loops_thread_with_the_loop_detached(self):
        def where():
            return threading.get_ident(), inventory.get_running_loop_or_none()

        self.assertEqual(await sync_to_async(where)(), (threading.get_ident(), None))
        self.assertIsNotNone(inventory.get_running_loop_or_none())

    async def test_nested_async_to_sync_runs_on_a_loop_of_its_own(self):
        async def inner():
            return asyncio.get_running_loop()

        self.assertIsNot(await sync_to_async(async_to_sync(inner))(), asyncio.get_running_loop())
