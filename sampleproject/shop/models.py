from django.db import models


class Item(models.Model):
    name = models.CharField(max_length=100)
    qty = models.PositiveIntegerField(default=0)

    def __str__(self):
        return f"{self.name} x{self.qty}"

    def as_dict(self):
        return {"name": self.name, "qty": self.qty}


class Event(models.Model):
    """An audit record, written in the background (see shop.tasks)."""

    kind = models.CharField(max_length=50)
    created = models.DateTimeField(auto_now_add=True)

    def __str__(self):
        return self.kind
