"""Isolation of each kind of test class, checked from inside a run of arunner itself.

No test relies on another having run. Where rollback is at stake, every test of the class
first checks that it starts from the class's data alone, then changes it: run together, in any
order, each test after the first proves the one before it was rolled back. (End-to-end runs,
whose order is fixed, prove the same for a test that writes and the one after it.)
"""

import asyncio
import threading
import unittest

from asgiref.sync import async_to_sync, sync_to_async
from django.db import close_old_connections, connection, transaction
from django.test import SimpleTestCase, TestCase, TransactionTestCase
from django.test.testcases import DatabaseOperationForbidden

from arunner.core.loops import TrackingLoop
from arunner.guards.isolation import TestConnectionClosedError
from arunner.testing import assert_num_queries, capture_on_commit_callbacks
from tests.testapp.models import Item


class AsyncTestCaseRollback(TestCase):
    @classmethod
    def setUpTestData(cls):
        cls.base = Item.objects.create(name="base")

    def setUp(self):
        self.assertEqual(list(Item.objects.values_list("name", flat=True)), ["base"])

    async def test_async_test_writes_and_deletes_the_class_data(self):
        await Item.objects.acreate(name="written")
        await Item.objects.filter(name="base").adelete()
        self.assertEqual([item.name async for item in Item.objects.all()], ["written"])

    def test_sync_test_writes_and_deletes_the_class_data(self):
        Item.objects.create(name="written by a sync test")
        Item.objects.filter(name="base").delete()
        self.assertEqual(Item.objects.count(), 1)

    async def test_runs_on_the_thread_holding_the_atomic(self):
        holder = await sync_to_async(threading.get_ident)()
        self.assertEqual(holder, threading.main_thread().ident)
        self.assertTrue(await sync_to_async(lambda: connection.in_atomic_block)())
        await Item.objects.acreate(name="written on that thread")


class AsyncHookOrder(TestCase):
    async def setUp(self):
        self.log = ["setUp"]
        # Registered first, so it runs last: the async cleanup below must have been awaited.
        self.addCleanup(self._async_cleanup_ran)
        await Item.objects.acreate(name="from setUp")

    def _async_cleanup_ran(self):
        if self.log[-1:] != ["cleanup"]:
            raise AssertionError(f"the async cleanup never ran: {self.log}")

    async def asyncSetUp(self):
        self.log.append("asyncSetUp")

    async def asyncTearDown(self):
        self.log.append("asyncTearDown")

    async def tearDown(self):
        self.log.append("tearDown")

    async def _last_cleanup(self):
        self.log.append("cleanup")
        expected = ["setUp", "asyncSetUp", "test", "asyncTearDown", "tearDown", "cleanup"]
        if self.log != expected:
            raise AssertionError(f"hooks ran as {self.log}")
        self.assertEqual(await Item.objects.acount(), 1)

    async def test_hooks_run_in_order_inside_the_atomic(self):
        self.addAsyncCleanup(self._last_cleanup)
        self.log.append("test")
        self.assertEqual(await Item.objects.acount(), 1)


class AsyncSetUpTestData(TestCase):
    @classmethod
    async def setUpTestData(cls):
        cls.first = await Item.objects.acreate(name="async class data")
        cls.loop_id = id(asyncio.get_running_loop())

    async def test_class_rows_visible(self):
        self.assertEqual(await Item.objects.acount(), 1)
        self.assertEqual(self.first.name, "async class data")

    async def test_same_loop_as_class_hook(self):
        self.assertEqual(id(asyncio.get_running_loop()), self.loop_id)


class IsolatedAsyncioRollback(unittest.IsolatedAsyncioTestCase):
    async def asyncSetUp(self):
        self.loop = asyncio.get_running_loop()
        self.assertEqual(await Item.objects.acount(), 0)

    async def test_writes(self):
        await Item.objects.acreate(name="isolated")
        self.assertEqual(await Item.objects.acount(), 1)

    async def test_loop_is_the_runners(self):
        self.assertIs(asyncio.get_running_loop(), self.loop)
        self.assertIsInstance(self.loop, TrackingLoop)
        await Item.objects.acreate(name="isolated too")


class PlainUnittestCoroutines(unittest.TestCase):
    def setUp(self):
        self.body_ran = False
        self.addCleanup(self._body_ran)

    def _body_ran(self):
        if not self.body_ran:
            raise AssertionError("the coroutine test's body never ran")

    async def test_writes(self):
        self.assertEqual(await Item.objects.acount(), 0)
        await Item.objects.acreate(name="plain")
        self.body_ran = True

    async def test_writes_too(self):
        self.assertEqual(await Item.objects.acount(), 0)
        await Item.objects.acreate(name="plain too")
        self.body_ran = True


class ConnectionClosingSignals(TestCase):
    async def test_close_old_connections_keeps_the_test_connection(self):
        await Item.objects.acreate(name="kept")
        await sync_to_async(close_old_connections)()
        self.assertEqual(await Item.objects.acount(), 1)

    async def test_explicit_close_is_a_clear_error(self):
        with self.assertRaisesMessage(TestConnectionClosedError, "inside a test's transaction"):
            await sync_to_async(lambda: connection.close())()
        self.assertEqual(await Item.objects.acount(), 0)

    async def test_django_asgi_request_started_does_not_break_the_test(self):
        await Item.objects.acreate(name="seen by view")
        response = await self.async_client.get("/count/")
        self.assertEqual(response.json(), {"count": 1})


class QueryCapture(TestCase):
    async def test_assert_num_queries(self):
        async with assert_num_queries(self, 2):
            await Item.objects.acreate(name="q")
            await Item.objects.acount()

    async def test_assert_num_queries_fails_on_mismatch(self):
        with self.assertRaises(AssertionError):
            async with assert_num_queries(self, 1):
                await Item.objects.acount()
                await Item.objects.acount()

    async def test_capture_on_commit_callbacks(self):
        ran = []

        def register():
            transaction.on_commit(lambda: ran.append("committed"))

        async with capture_on_commit_callbacks(execute=True) as callbacks:
            await sync_to_async(register)()
        self.assertEqual(len(callbacks), 1)
        self.assertEqual(ran, ["committed"])


class NestedBridges(TestCase):
    async def test_async_to_sync_inside_a_thread_sensitive_call(self):
        async def count():
            return await Item.objects.acount()

        def sync_view():
            Item.objects.create(name="nested")
            return async_to_sync(count)()

        self.assertEqual(await sync_to_async(sync_view)(), 1)


class TransactionTestCaseCommits(TransactionTestCase):
    async def test_async_test_commits_and_is_flushed(self):
        await Item.objects.acreate(name="committed")
        self.assertFalse(await sync_to_async(lambda: connection.in_atomic_block)())
        self.assertEqual(await Item.objects.acount(), 1)


class SimpleTestCaseRefusesTheDatabase(SimpleTestCase):
    async def test_orm_is_refused(self):
        with self.assertRaises(DatabaseOperationForbidden):
            await Item.objects.acount()


class ThreadedReadsInSimpleTestCase(SimpleTestCase):
    databases = {"default"}

    def test_thread_may_read_a_declared_database(self):
        found = []
        worker = threading.Thread(target=lambda: found.append(Item.objects.count()))
        worker.start()
        worker.join()
        self.assertEqual(found, [0])
