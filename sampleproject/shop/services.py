from django.db import transaction

from .models import Item


def add_item(name, qty, on_saved=None):
    """Create an item; call ``on_saved(item)`` once the transaction commits."""
    with transaction.atomic():
        item = Item.objects.create(name=name, qty=qty)
        if on_saved is not None:
            transaction.on_commit(lambda: on_saved(item))
    return item
