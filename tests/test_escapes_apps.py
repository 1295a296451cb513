"""Apps that run code on threads of their own: Starlette's TestClient, Django's live server."""

import urllib.request

from django.test import LiveServerTestCase, TestCase, override_settings
from fastapi import FastAPI
from fastapi.testclient import TestClient

from arunner.escapes import EscapedQueryError, expected_refusals
from tests.testapp.models import Item

app = FastAPI()


@app.post("/items")
def create_item():
    Item.objects.create(name="api")
    return {"count": Item.objects.count()}


@app.get("/count")
async def count_items():
    return {"count": await Item.objects.acount()}


class StarletteTestClientStrict(TestCase):
    """The sync ``TestClient`` runs the app on its own thread and loop, in a sync test."""

    def test_sync_endpoint_is_refused(self):
        client = TestClient(app)
        with expected_refusals() as refused, self.assertRaises(EscapedQueryError):
            client.post("/items")
        self.assertEqual(len(refused), 1)
        self.assertEqual(Item.objects.count(), 0)


class StarletteTestClientRouted(TestCase):
    arunner_db_threads = "route"

    def test_1_endpoints_see_and_write_the_tests_rows(self):
        Item.objects.create(name="main")
        with TestClient(app) as client:
            self.assertEqual(client.post("/items").json(), {"count": 2})
            self.assertEqual(client.get("/count").json(), {"count": 2})
        self.assertEqual(Item.objects.count(), 2)

    def test_2_rolled_back(self):
        self.assertEqual(Item.objects.count(), 0)


@override_settings(STATIC_URL="/static/", MEDIA_URL="/media/")
class LiveServerSharesItsConnection(LiveServerTestCase):
    """With in-memory SQLite the server thread uses the test's own connection (shared on
    purpose); arunner's clean-up between tests must leave it open."""

    def _get(self, path):
        with urllib.request.urlopen(self.live_server_url + path) as response:
            return response.read()

    def test_1_server_writes(self):
        self.assertIn(b'"count": 1', self._get("/create/?name=live"))
        self.assertEqual(Item.objects.count(), 1)

    def test_2_server_still_works(self):
        self.assertIn(b'"count": 1', self._get("/create/?name=again"))
