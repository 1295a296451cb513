"""A FastAPI app on the Django ORM, driven in-process with httpx.

The async endpoint's a* ORM calls run in the test's transaction, under any runner.
(The sync endpoint runs in a worker thread: see test_worker_threads.)
"""

import httpx
from django.test import TestCase

from shop.api import app
from shop.models import Item


class AsyncEndpointTests(TestCase):
    async def test_list_items(self):
        await Item.objects.acreate(name="pear", qty=2)
        await Item.objects.acreate(name="apple", qty=3)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            response = await client.get("/items")
        self.assertEqual(response.status_code, 200)
        self.assertEqual(response.json(), [{"name": "apple", "qty": 3}, {"name": "pear", "qty": 2}])
