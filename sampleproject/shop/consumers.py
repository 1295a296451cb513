from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from .models import Item


class ItemConsumer(AsyncJsonWebsocketConsumer):
    """Receives {"name": ..., "qty": ...}, stores the item, replies with the new total."""

    async def receive_json(self, content, **kwargs):
        count = await self.add_item(content["name"], content["qty"])
        await self.send_json({"added": content["name"], "count": count})

    @database_sync_to_async
    def add_item(self, name, qty):
        Item.objects.create(name=name, qty=qty)
        return Item.objects.count()
