"""Async setUp/tearDown hooks, async cleanups and an async setUpTestData on a Django TestCase.

Under Django's DiscoverRunner the async hooks are coroutines nobody awaits: they never run.
"""

from django.test import TestCase

from shop.models import Item


class AsyncHooksTests(TestCase):
    @classmethod
    async def setUpTestData(cls):
        cls.widget = await Item.objects.acreate(name="widget", qty=5)

    async def setUp(self):
        self.calls = ["setUp"]
        # Cleanups run last-in, first-out: registered first, this one checks the whole sequence.
        self.addAsyncCleanup(self.check_call_order)
        self.gadget = await Item.objects.acreate(name="gadget", qty=1)

    async def asyncSetUp(self):
        self.calls.append("asyncSetUp")

    async def asyncTearDown(self):
        self.calls.append("asyncTearDown")

    async def tearDown(self):
        self.calls.append("tearDown")
        await Item.objects.filter(pk=self.gadget.pk).aupdate(qty=0)

    async def record_cleanup(self, name):
        self.calls.append(name)

    async def check_call_order(self):
        self.assertEqual(
            self.calls,
            ["setUp", "asyncSetUp", "test", "asyncTearDown", "tearDown", "cleanup"],
        )
        # tearDown's write is visible here: cleanups run before the test is rolled back.
        self.assertEqual((await Item.objects.aget(pk=self.gadget.pk)).qty, 0)

    async def test_hooks_run_in_order(self):
        self.calls.append("test")
        self.addAsyncCleanup(self.record_cleanup, "cleanup")
        names = [item.name async for item in Item.objects.order_by("name")]
        self.assertEqual(names, ["gadget", "widget"])

    async def test_set_up_rows_are_rolled_back_between_tests(self):
        self.calls.append("test")
        self.addAsyncCleanup(self.record_cleanup, "cleanup")
        # One widget from setUpTestData, one gadget from this test's setUp (not two).
        self.assertEqual(await Item.objects.acount(), 2)
        self.assertEqual(self.widget.name, "widget")
