"""Async tests in django.test.TestCase: every test runs in its own rolled-back transaction."""

from django.test import TestCase

from shop.models import Item


class AsyncWritesRollBackTests(TestCase):
    # Alphabetical order runs these in sequence: async writer, sync reader/writer, async reader.

    async def test_1_async_create(self):
        await Item.objects.acreate(name="apple", qty=3)
        self.assertEqual(await Item.objects.acount(), 1)

    def test_2_sync_test_does_not_see_async_write(self):
        self.assertEqual(Item.objects.count(), 0)
        Item.objects.create(name="pear", qty=1)

    async def test_3_async_test_does_not_see_sync_write(self):
        self.assertEqual(await Item.objects.acount(), 0)


class SetUpTestDataTests(TestCase):
    @classmethod
    def setUpTestData(cls):
        cls.apple = Item.objects.create(name="apple", qty=3)
        Item.objects.create(name="pear", qty=1)

    async def test_1_async_test_sees_class_data(self):
        names = [
            name async for name in Item.objects.order_by("name").values_list("name", flat=True)
        ]
        self.assertEqual(names, ["apple", "pear"])
        self.assertEqual((await Item.objects.aget(pk=self.apple.pk)).qty, 3)

    async def test_2_delete_class_data(self):
        deleted, _ = await Item.objects.all().adelete()
        self.assertEqual(deleted, 2)
        self.assertEqual(await Item.objects.acount(), 0)

    async def test_3_class_data_is_restored(self):
        self.assertEqual(await Item.objects.acount(), 2)
        self.apple.qty = 10
        await self.apple.asave()

    async def test_4_class_attribute_is_a_fresh_copy(self):
        self.assertEqual(self.apple.qty, 3)
        await self.apple.arefresh_from_db()
        self.assertEqual(self.apple.qty, 3)
