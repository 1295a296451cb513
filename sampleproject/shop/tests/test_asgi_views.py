"""Django views served by the real ASGI application (httpx) and by Django's AsyncClient.

Through httpx the request goes through ASGIHandler, which sends request_started; its
close_old_connections receiver closes the test's connection (it is inside the test
transaction). SQLite ignores that for its in-memory test database; on PostgreSQL
DiscoverRunner answers 500. Django's AsyncClient disconnects that receiver, so it passes.
"""

import httpx
from django.test import TestCase
from sampleproject.asgi import application

from shop.models import Item

EXPECTED = {
    "items": [{"name": "apple", "qty": 3}, {"name": "pear", "qty": 2}],
    "count": 2,
}


class AsgiApplicationTests(TestCase):
    @classmethod
    def setUpTestData(cls):
        Item.objects.create(name="apple", qty=3)

    async def get(self, path):
        # The full ASGI stack, called the way a server calls it.
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            return await client.get(path)

    async def test_async_view(self):
        await Item.objects.acreate(name="pear", qty=2)
        response = await self.get("/items/async/")
        self.assertEqual(response.status_code, 200)
        self.assertEqual(response.json(), EXPECTED)

    async def test_sync_view(self):
        await Item.objects.acreate(name="pear", qty=2)
        response = await self.get("/items/")
        self.assertEqual(response.status_code, 200)
        self.assertEqual(response.json(), EXPECTED)


class AsyncClientTests(TestCase):
    @classmethod
    def setUpTestData(cls):
        Item.objects.create(name="apple", qty=3)

    async def test_async_view(self):
        await Item.objects.acreate(name="pear", qty=2)
        response = await self.async_client.get("/items/async/")
        self.assertEqual(response.status_code, 200)
        self.assertEqual(response.json(), EXPECTED)

    async def test_sync_view(self):
        await Item.objects.acreate(name="pear", qty=2)
        response = await self.async_client.get("/items/")
        self.assertEqual(response.status_code, 200)
        self.assertEqual(response.json(), EXPECTED)
