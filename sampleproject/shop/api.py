"""A FastAPI app sharing the Django ORM (mount it next to Django, or serve it alone)."""

from fastapi import FastAPI
from pydantic import BaseModel

from .models import Item

app = FastAPI(title="shop")


class ItemIn(BaseModel):
    name: str
    qty: int


@app.get("/items")
async def list_items():
    return [item.as_dict() async for item in Item.objects.order_by("name")]


@app.post("/items", status_code=201)
def create_item(payload: ItemIn):
    # A sync endpoint: FastAPI runs it in a worker thread (anyio's thread pool).
    item = Item.objects.create(name=payload.name, qty=payload.qty)
    return {**item.as_dict(), "count": Item.objects.count()}
