"""Plain unittest classes that touch the ORM from async tests.

arunner gives them the same rolled-back transaction as a Django TestCase (on "default").
Under DiscoverRunner, IsolatedAsyncioTestCase writes commit for real, and the async test
methods of a plain unittest.TestCase are never awaited (they "pass" without running).
"""

import unittest

from shop.models import Item


class IsolatedAsyncioOrmTests(unittest.IsolatedAsyncioTestCase):
    async def test_1_create(self):
        await Item.objects.acreate(name="apple", qty=3)
        self.assertEqual(await Item.objects.acount(), 1)

    async def test_2_previous_write_was_rolled_back(self):
        self.assertEqual(await Item.objects.acount(), 0)


class PlainUnittestAsyncTests(unittest.TestCase):
    def setUp(self):
        self.body_ran = False
        self.addCleanup(self.check_body_ran)

    def check_body_ran(self):
        # unittest.TestCase calls an async test method and drops the coroutine unless the
        # runner awaits it; make that visible instead of a silent pass.
        self.assertTrue(self.body_ran, "the async test body never ran")

    async def test_1_create(self):
        await Item.objects.acreate(name="apple", qty=3)
        self.assertEqual(await Item.objects.acount(), 1)
        self.body_ran = True

    async def test_2_previous_write_was_rolled_back(self):
        self.assertEqual(await Item.objects.acount(), 0)
        self.body_ran = True
