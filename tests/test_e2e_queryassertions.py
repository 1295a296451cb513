"""Django's own ``assertNumQueries`` and ``captureOnCommitCallbacks`` inside coroutine tests.

Under ``DiscoverRunner`` both look the connection up on the loop's thread, where Django gives
each task its own: ``assertNumQueries`` raises ``SynchronousOnlyOperation`` and
``captureOnCommitCallbacks`` captures nothing. arunner runs them on the test's thread, which
serves the awaited ORM calls, with either executor and on every backend.
"""

from django.test import SimpleTestCase, tag

from tests.e2e import Project

QUERIES = """
import asyncio

from asgiref.sync import async_to_sync, sync_to_async
from django.db import transaction
from django.db.models.signals import post_save
from django.test import TestCase, TransactionTestCase

from arunner.suite.queryassertions import QueryAssertionError
from e2eapp.models import Item, Marker

INSTANCES = []


def mark_on_commit(sender, instance, created, **kwargs):
    if created:
        transaction.on_commit(lambda: Marker.objects.create(label=f"saved {instance.name}"))


post_save.connect(mark_on_commit, sender=Item, dispatch_uid="mark_on_commit")


def place_order(name):
    Item.objects.create(name=name)
    transaction.on_commit(lambda: Marker.objects.create(label="order"))


async def amark(label):
    await Marker.objects.acreate(label=label)


def notify():
    # As a Channels group_send in an on-commit callback does.
    transaction.on_commit(lambda: async_to_sync(amark)("notified"))


class Counts(TestCase):
    @classmethod
    def tearDownClass(cls):
        left = sorted(
            name
            for test in INSTANCES
            for name in ("assertNumQueries", "captureOnCommitCallbacks")
            if name in vars(test)
        )
        print(f"LEFT ON INSTANCES: {left} of {len(INSTANCES)}")
        super().tearDownClass()

    def setUp(self):
        INSTANCES.append(self)
        with self.assertNumQueries(1):
            Item.objects.create(name="set up")

    async def test_awaited_queries(self):
        with self.assertNumQueries(2) as captured:
            await Item.objects.acreate(name="a")
            self.assertEqual(await Item.objects.acount(), 2)
        self.assertIn("INSERT", captured[0]["sql"])

    async def test_sync_to_async_queries_and_one_manager_twice(self):
        counted = self.assertNumQueries(1)
        with counted:
            await sync_to_async(Item.objects.count)()
        with counted:
            await Item.objects.aexists()

    async def test_inside_sync_to_async_it_is_djangos(self):
        def count():
            with self.assertNumQueries(1):
                return Item.objects.count()

        self.assertEqual(await sync_to_async(count)(), 1)

    async def test_callable_form_with_a_sync_function(self):
        self.assertNumQueries(1, Item.objects.count)

    async def test_wrong_count(self):
        with self.assertNumQueries(1):
            await Item.objects.acount()
            await Item.objects.aexists()

    async def test_callable_form_with_a_coroutine_is_refused(self):
        async def count():
            return await Item.objects.acount()

        for func in (count, Item.objects.acount):
            with self.assertRaisesMessage(QueryAssertionError, "with self.assertNumQueries(0)"):
                self.assertNumQueries(0, func)

    async def test_in_a_task_and_around_an_exception(self):
        async def count():
            with self.assertNumQueries(1):
                await Item.objects.acount()

        await asyncio.create_task(count())
        with self.assertRaises(ZeroDivisionError):
            with self.assertNumQueries(5):
                await Item.objects.acount()
                1 / 0

    async def test_async_to_sync_inside_sync_to_async(self):
        async def nested():
            with self.assertNumQueries(1):
                await Item.objects.acount()

        await sync_to_async(async_to_sync(nested))()

    async def test_a_thread_with_its_own_loop_is_refused(self):
        async def elsewhere():
            with self.assertNumQueries(0):
                pass

        with self.assertRaisesMessage(QueryAssertionError, "in the test's own coroutines"):
            await asyncio.to_thread(asyncio.run, elsewhere())


class TransactionCounts(TransactionTestCase):
    async def test_awaited_queries(self):
        with self.assertNumQueries(2):
            await Marker.objects.acreate(label="committed")
            await Marker.objects.acount()


class OnCommit(TestCase):
    async def asyncSetUp(self):
        with self.assertNumQueries(1):
            await Marker.objects.acreate(label="set up")

    async def labels(self):
        return [marker.label async for marker in Marker.objects.order_by("label")]

    async def test_acreate_executed(self):
        with self.captureOnCommitCallbacks(execute=True) as callbacks:
            await Item.objects.acreate(name="apple")
        self.assertEqual(len(callbacks), 1)
        self.assertEqual(await self.labels(), ["saved apple", "set up"])

    async def test_acreate_not_executed(self):
        with self.captureOnCommitCallbacks() as callbacks:
            await Item.objects.acreate(name="apple")
        self.assertEqual(len(callbacks), 1)
        self.assertEqual(await self.labels(), ["set up"])

    async def test_sync_to_async_executed(self):
        with self.captureOnCommitCallbacks(execute=True) as callbacks:
            await sync_to_async(place_order)("pear")
        self.assertEqual(len(callbacks), 2)
        self.assertEqual(await self.labels(), ["order", "saved pear", "set up"])

    async def test_sync_to_async_not_executed(self):
        with self.captureOnCommitCallbacks(execute=False) as callbacks:
            await sync_to_async(place_order)("pear")
        self.assertEqual(len(callbacks), 2)
        self.assertEqual(await self.labels(), ["set up"])

    async def test_callback_using_async_to_sync_executed(self):
        with self.captureOnCommitCallbacks(execute=True) as callbacks:
            await sync_to_async(notify)()
        self.assertEqual(len(callbacks), 1)
        self.assertEqual(await self.labels(), ["notified", "set up"])
"""


@tag("cross")
class DjangoQueryAssertionsInCoroutineTests(SimpleTestCase):
    def test_both_executors(self):
        with Project({"test_queries": QUERIES}) as project:
            for executor in ("inline", "hop"):
                with self.subTest(executor=executor):
                    run = project.run("--executor", executor, "--timeout", "60")
                    self.assertEqual(run.closing_line, "14 passed, 1 failed, 0 skipped", run.output)
                    self.assertIn("FAIL: test_wrong_count", run.output)
                    self.assertIn(
                        "AssertionError: 2 != 1 : 2 queries executed, 1 expected\n", run.output
                    )
                    self.assertIn("Captured queries were:\n1. SELECT COUNT(*)", run.output)
                    self.assertNotIn("SynchronousOnlyOperation", run.output)
                    self.assertIn("LEFT ON INSTANCES: [] of 9", run.output)
