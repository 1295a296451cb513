"""Worker-thread ORM calls inside a run of arunner itself: refused, routed, caught as leaks.

No test relies on another having run. Classes whose workers write check in ``setUp`` that
each test starts from the class's data alone: run together, in any order, each test after the
first proves that the workers' writes of the one before were rolled back. What a worker does
after its test has ended is checked end to end (``test_e2e_escapes.Leftovers``), where the
order of the tests is fixed.
"""

import asyncio
import threading
import unittest
from concurrent.futures import ThreadPoolExecutor

import anyio.to_thread
from asgiref.sync import sync_to_async
from django.db import close_old_connections, connection, connections, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.utils import DatabaseError
from django.test import TestCase

from arunner.escapes import EscapedQueryError, LeakedWriteError, expected_refusals
from tests.testapp.models import Item


def write(name="worker"):
    Item.objects.create(name=name)
    return Item.objects.count()


def fail_a_statement():
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM arunner_no_such_table")


def _savepoint_ids():
    return list(connection.savepoint_ids)


class StrictMode(TestCase):
    async def test_to_thread_write_is_refused_with_what_to_do(self):
        with expected_refusals() as refused, self.assertRaises(EscapedQueryError) as caught:
            await asyncio.to_thread(write)
        message = str(caught.exception)
        for fragment in (
            self.id(),
            "from thread 'asyncio_",
            "on database 'default'",
            "INSERT INTO",
            "--db-threads route",
            "arunner_db_threads = 'route'",
            "sync_to_async(fn)",
            "TransactionTestCase",
        ):
            self.assertIn(fragment, message)
        self.assertEqual(refused, [message])
        self.assertEqual(await Item.objects.acount(), 0)

    async def test_every_kind_of_worker_is_refused(self):
        pool = ThreadPoolExecutor(1)
        self.addCleanup(pool.shutdown)
        loop = asyncio.get_running_loop()
        with expected_refusals() as refused:
            outcomes = await asyncio.gather(
                asyncio.to_thread(write),
                loop.run_in_executor(None, write),
                loop.run_in_executor(pool, write),
                sync_to_async(write, thread_sensitive=False)(),
                anyio.to_thread.run_sync(write),
                asyncio.to_thread(Item.objects.count),
                asyncio.to_thread(fail_a_statement),
                return_exceptions=True,
            )
        self.assertTrue(all(isinstance(o, EscapedQueryError) for o in outcomes), outcomes)
        self.assertEqual(len(refused), 7)
        self.assertEqual(await Item.objects.acount(), 0)

    async def test_work_without_sql_is_not_an_escape(self):
        await sync_to_async(close_old_connections, thread_sensitive=False)()
        await asyncio.to_thread(lambda: connections.all(initialized_only=True))
        response = await self.async_client.get("/count/")
        self.assertEqual(response.json(), {"count": 0})

    def test_sync_test_plain_thread_is_refused(self):
        outcome = []
        thread = threading.Thread(target=lambda: outcome.append(_catch(write)), name="plain")
        with expected_refusals() as refused:
            thread.start()
            thread.join()
        self.assertIsInstance(outcome[0], EscapedQueryError)
        self.assertIn("from thread 'plain'", str(outcome[0]))
        self.assertEqual(len(refused), 1)


def _catch(fn, *args):
    try:
        return fn(*args)
    except Exception as exc:
        return exc


class LeakDetection(TestCase):
    def _second_connection(self):
        other = connections.create_connection("default")
        self.addCleanup(BaseDatabaseWrapper.close, other)
        return other

    def test_write_through_a_second_connection_is_refused(self):
        other = self._second_connection()
        with other.cursor() as cursor:
            cursor.execute("SELECT COUNT(*) FROM testapp_item")
            self.assertEqual(cursor.fetchone()[0], 0)
        with (
            expected_refusals() as refused,
            self.assertRaises(LeakedWriteError) as caught,
            other.cursor() as cursor,
        ):
            cursor.execute("INSERT INTO testapp_item (name) VALUES ('leak')")
        message = str(caught.exception)
        self.assertIn("INSERT INTO testapp_item", message)
        self.assertIn("from thread 'MainThread'", message)
        self.assertIn(self.id(), message)
        self.assertEqual(refused, [message])
        self.assertEqual(Item.objects.count(), 0)

    def test_schema_changes_are_writes_too(self):
        other = self._second_connection()
        with (
            expected_refusals() as refused,
            self.assertRaises(LeakedWriteError),
            other.cursor() as cursor,
        ):
            cursor.execute("CREATE TABLE arunner_leaked (id integer)")
        self.assertEqual(len(refused), 1)


class RouteMode(TestCase):
    arunner_db_threads = "route"

    @classmethod
    def setUpTestData(cls):
        cls.base = Item.objects.create(name="base")

    def setUp(self):
        self.assertEqual(list(Item.objects.values_list("name", flat=True)), ["base"])

    async def test_to_thread_sees_and_writes_test_rows(self):
        await Item.objects.acreate(name="main")
        self.assertEqual(await asyncio.to_thread(write), 3)
        self.assertEqual(await Item.objects.acount(), 3)

    async def test_every_kind_of_worker_is_routed(self):
        pool = ThreadPoolExecutor(2)
        self.addCleanup(pool.shutdown)
        loop = asyncio.get_running_loop()
        before = await sync_to_async(_savepoint_ids)()
        counts = await asyncio.gather(
            asyncio.to_thread(write, "to_thread"),
            loop.run_in_executor(None, write, "default executor"),
            loop.run_in_executor(pool, write, "custom executor"),
            sync_to_async(write, thread_sensitive=False)("sync_to_async"),
            anyio.to_thread.run_sync(write, "anyio"),
        )
        self.assertTrue(all(2 <= count <= 6 for count in counts), counts)
        self.assertEqual(await Item.objects.acount(), 6)
        self.assertEqual(await sync_to_async(_savepoint_ids)(), before)

    async def test_nested_atomics_in_a_worker(self):
        def nested():
            with transaction.atomic():
                Item.objects.create(name="outer")
                try:
                    with transaction.atomic():
                        Item.objects.create(name="inner")
                        raise ValueError("undo inner")
                except ValueError:
                    pass
                with transaction.atomic(savepoint=False):
                    Item.objects.create(name="no savepoint")
            return sorted(Item.objects.values_list("name", flat=True))

        before = await sync_to_async(_savepoint_ids)()
        # Each worker sees its own block's rows; the workers may end in any order.
        seen = await asyncio.gather(*(asyncio.to_thread(nested) for _ in range(3)))
        self.assertTrue(all("outer" in view and "inner" not in view for view in seen), seen)
        names = [item.name async for item in Item.objects.all()]
        self.assertEqual((names.count("outer"), names.count("no savepoint")), (3, 3), names)
        self.assertNotIn("inner", names)
        self.assertEqual(await sync_to_async(_savepoint_ids)(), before)

    async def test_a_failing_statement_does_not_poison_the_test(self):
        def fail_then_write():
            Item.objects.create(name="before")
            with self.assertRaises(DatabaseError):
                fail_a_statement()
            with self.assertRaises(DatabaseError):
                Item.objects.create(name=None)
            Item.objects.create(name="after")

        await asyncio.to_thread(fail_then_write)
        names = {i.name async for i in Item.objects.all()}
        self.assertEqual(names, {"base", "before", "after"})

    async def test_a_failing_atomic_without_savepoint_rolls_back_alone(self):
        def bulk():
            with self.assertRaises(DatabaseError), transaction.atomic(savepoint=False):
                Item.objects.create(name="in the failed block")
                Item.objects.create(name=None)
            return Item.objects.count()

        self.assertEqual(await asyncio.to_thread(bulk), 1)
        self.assertFalse(await sync_to_async(lambda: connection.needs_rollback)())

    async def test_iterator_in_a_worker_while_the_test_writes(self):
        await Item.objects.abulk_create([Item(name=f"row {n}") for n in range(30)])

        def iterate():
            return [item.name for item in Item.objects.order_by("pk").iterator(chunk_size=4)]

        names, _ = await asyncio.gather(
            asyncio.to_thread(iterate), Item.objects.acreate(name="concurrent")
        )
        self.assertEqual(names[:2], ["base", "row 0"])
        self.assertIn(len(names), (31, 32))

    async def test_worker_close_leaves_the_test_connection_open(self):
        def close_everything():
            write()
            close_old_connections()
            connection.close()
            connections.close_all()

        await asyncio.to_thread(close_everything)
        self.assertEqual(await Item.objects.acount(), 2)

    def test_sync_test_threads_and_pools(self):
        thread = threading.Thread(target=write, args=("thread",))
        thread.start()
        thread.join()
        with ThreadPoolExecutor(3) as pool:
            list(pool.map(write, ["a", "b", "c"]))
        self.assertEqual(Item.objects.count(), 5)
        self.assertEqual(len(connection.savepoint_ids), 1)


class IsolatedAsyncioRouted(unittest.IsolatedAsyncioTestCase):
    """unittest coroutine tests get a rolled-back atomic from arunner: workers join it too."""

    arunner_db_threads = "route"

    async def asyncSetUp(self):
        self.assertEqual(await Item.objects.acount(), 0)

    async def test_worker_writes(self):
        await Item.objects.acreate(name="main")
        self.assertEqual(await asyncio.to_thread(write), 2)

    async def test_pool_job_writes(self):
        loop = asyncio.get_running_loop()
        self.assertEqual(await loop.run_in_executor(None, write), 1)
