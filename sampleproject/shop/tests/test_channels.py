"""A Channels consumer writing through database_sync_to_async, tested in a TestCase.

Channels calls close_old_connections around consumer handlers, which closes the test's
connection (it is inside the test transaction). SQLite's in-memory test database ignores
the close; on PostgreSQL DiscoverRunner fails with "the connection is closed".
"""

from channels.testing import WebsocketCommunicator
from django.test import TestCase
from sampleproject.asgi import application

from shop.models import Item


class ItemConsumerTests(TestCase):
    async def test_1_add_item_over_websocket(self):
        await Item.objects.acreate(name="apple", qty=3)
        communicator = WebsocketCommunicator(application, "/ws/items/")
        connected, _ = await communicator.connect()
        self.assertTrue(connected)

        await communicator.send_json_to({"name": "lamp", "qty": 2})
        reply = await communicator.receive_json_from()
        await communicator.disconnect()

        # The consumer saw the test's row, and the test sees the consumer's.
        self.assertEqual(reply, {"added": "lamp", "count": 2})
        self.assertEqual(await Item.objects.acount(), 2)
        self.assertTrue(await Item.objects.filter(name="lamp", qty=2).aexists())

    async def test_2_consumer_writes_were_rolled_back(self):
        self.assertFalse(await Item.objects.filter(name="lamp").aexists())
