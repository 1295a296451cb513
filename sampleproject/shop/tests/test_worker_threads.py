"""ORM calls from worker threads: a FastAPI sync endpoint and asyncio.to_thread.

FastAPI runs a sync endpoint in anyio's thread pool. By default arunner refuses ORM calls
from worker threads with a clear error; ``arunner_db_threads = "route"`` runs them on the
test's connection instead, inside the test transaction.

Under DiscoverRunner the worker thread opens its own connection: it cannot see the test's
rows, its writes commit for real (SQLite: "database table is locked"), and on PostgreSQL
the leftover connection keeps the test database from being dropped at the end of the run.
"""

import asyncio

import httpx
from django.test import TestCase

from shop.api import app
from shop.models import Item


def restock(name, qty):
    item = Item.objects.get(name=name)
    item.qty += qty
    item.save(update_fields=["qty"])
    return Item.objects.get(pk=item.pk).qty


class WorkerThreadOrmTests(TestCase):
    arunner_db_threads = "route"

    async def test_1_sync_endpoint_sees_and_writes_test_rows(self):
        await Item.objects.acreate(name="apple", qty=3)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            response = await client.post("/items", json={"name": "pear", "qty": 1})
        self.assertEqual(response.status_code, 201)
        self.assertEqual(response.json(), {"name": "pear", "qty": 1, "count": 2})
        self.assertEqual(await Item.objects.acount(), 2)

    async def test_2_to_thread_orm_call(self):
        await Item.objects.acreate(name="bolt", qty=1)
        self.assertEqual(await asyncio.to_thread(restock, "bolt", 9), 10)
        self.assertEqual((await Item.objects.aget(name="bolt")).qty, 10)

    async def test_3_thread_writes_were_rolled_back(self):
        self.assertEqual(await Item.objects.acount(), 0)
