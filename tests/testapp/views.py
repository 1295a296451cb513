from django.http import JsonResponse

from .models import Item


async def count_items(request):
    return JsonResponse({"count": await Item.objects.acount()})


def create_item(request):
    Item.objects.create(name=request.GET.get("name", "view"))
    return JsonResponse({"count": Item.objects.count()})
