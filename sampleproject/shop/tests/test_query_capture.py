"""assertNumQueries / captureOnCommitCallbacks for async code, via arunner.testing.

Django's own helpers look the connection up on the wrong thread in an async test and capture
nothing (or raise SynchronousOnlyOperation); arunner.testing provides async context managers.
"""

from asgiref.sync import sync_to_async
from django.test import TestCase

from arunner.testing import assert_num_queries, capture_on_commit_callbacks
from shop.models import Item
from shop.services import add_item

aadd_item = sync_to_async(add_item)


class QueryCaptureTests(TestCase):
    async def test_count_is_one_query(self):
        async with assert_num_queries(self, 1):
            await Item.objects.acount()

    async def test_create_and_read_back(self):
        async with assert_num_queries(self, 2):
            item = await Item.objects.acreate(name="apple", qty=3)
            await Item.objects.aget(pk=item.pk)

    async def test_on_commit_callback(self):
        saved = []
        async with capture_on_commit_callbacks(execute=True) as callbacks:
            item = await aadd_item("apple", 3, on_saved=saved.append)
        self.assertEqual(len(callbacks), 1)
        self.assertEqual(saved, [item])

    async def test_on_commit_callback_not_executed(self):
        saved = []
        async with capture_on_commit_callbacks() as callbacks:
            await aadd_item("apple", 3, on_saved=saved.append)
        self.assertEqual(len(callbacks), 1)
        self.assertEqual(saved, [])
