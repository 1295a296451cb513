from django.urls import path
from shop import views

urlpatterns = [
    path("items/", views.item_list, name="item-list"),
    path("items/async/", views.item_list_async, name="item-list-async"),
]
