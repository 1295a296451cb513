"""TransactionTestCase (real commits, tables flushed after each test) and SimpleTestCase."""

import httpx
from asgiref.sync import sync_to_async
from django.test import SimpleTestCase, TransactionTestCase
from django.urls import reverse

from shop.api import app
from shop.models import Item
from shop.services import add_item


class TransactionalItemTests(TransactionTestCase):
    async def test_1_on_commit_runs_after_a_real_commit(self):
        saved = []
        item = await sync_to_async(add_item)("apple", 3, on_saved=saved.append)
        self.assertEqual(saved, [item])
        self.assertTrue(await Item.objects.filter(pk=item.pk).aexists())

    async def test_2_tables_are_flushed(self):
        self.assertEqual(await Item.objects.acount(), 0)


class NoDatabaseTests(SimpleTestCase):
    async def test_urls(self):
        self.assertEqual(reverse("item-list-async"), "/items/async/")

    async def test_openapi_schema(self):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            response = await client.get("/openapi.json")
        self.assertEqual(response.status_code, 200)
        self.assertEqual(sorted(response.json()["paths"]["/items"]), ["get", "post"])
