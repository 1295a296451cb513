from django.http import JsonResponse

from .models import Item


async def item_list_async(request):
    items = [item.as_dict() async for item in Item.objects.order_by("name")]
    return JsonResponse({"items": items, "count": await Item.objects.acount()})


def item_list(request):
    items = [item.as_dict() for item in Item.objects.order_by("name")]
    return JsonResponse({"items": items, "count": Item.objects.count()})
