from django.urls import path

from . import views

urlpatterns = [
    path("count/", views.count_items),
    path("create/", views.create_item),
]
