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
    """Each test starts with no row: run together, the second proves the first's endpoint
    writes were rolled back."""

    arunner_db_threads = "route"

    def setUp(self):
        self.assertEqual(Item.objects.count(), 0)

    def test_endpoints_see_and_write_the_tests_rows(self):
        Item.objects.create(name="main")
        with TestClient(app) as client:
            self.assertEqual(client.post("/items").json(), {"count": 2})
            self.assertEqual(client.get("/count").json(), {"count": 2})
        self.assertEqual(Item.objects.count(), 2)

    def test_endpoints_without_a_row_of_the_test(self):
        with TestClient(app) as client:
            self.assertEqual(client.post("/items").json(), {"count": 1})
        self.assertEqual(Item.objects.count(), 1)


@override_settings(STATIC_URL="/static/", MEDIA_URL="/media/")
class LiveServerSharesItsConnection(LiveServerTestCase):
    """With in-memory SQLite the server thread uses the test's own connection (shared on
    purpose); arunner's clean-up between tests must leave it open. Both tests write through
    the server: run together, the second proves the clean-up after the first kept it open."""

    def _create(self, name):
        with urllib.request.urlopen(f"{self.live_server_url}/create/?name={name}") as response:
            self.assertIn(b'"count": 1', response.read())
        self.assertEqual(Item.objects.count(), 1)

    def test_server_writes(self):
        self._create("live")

    def test_server_writes_again(self):
        self._create("again")
