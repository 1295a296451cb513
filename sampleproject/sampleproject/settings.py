"""Settings for the arunner sample project.

ARUNNER_TEST_DB selects the database: sqlite (default), postgres or mariadb.
SAMPLE_RUNNER=django runs the suite with Django's stock DiscoverRunner instead of arunner.
"""

import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent

SECRET_KEY = "sampleproject-insecure-not-a-secret"
DEBUG = True
ALLOWED_HOSTS = ["localhost", "127.0.0.1", "testserver"]

INSTALLED_APPS = [
    "shop",
]

ROOT_URLCONF = "sampleproject.urls"
ASGI_APPLICATION = "sampleproject.asgi.application"
CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

DATABASE_BACKEND = os.environ.get("ARUNNER_TEST_DB", "sqlite")
if DATABASE_BACKEND == "sqlite":
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": BASE_DIR / "db.sqlite3",
        }
    }
elif DATABASE_BACKEND == "postgres":
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": "sampleproject",
            "USER": "postgres",
            "HOST": "127.0.0.1",
            "PORT": "5432",
        }
    }
elif DATABASE_BACKEND == "mariadb":
    try:
        import MySQLdb  # noqa: F401  (mysqlclient)
    except ImportError:
        import pymysql

        pymysql.install_as_MySQLdb()
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.mysql",
            "NAME": "sampleproject",
            "USER": "root",
            "PASSWORD": "",
            "HOST": "127.0.0.1",
            "PORT": "3306",
            "OPTIONS": {"charset": "utf8mb4"},
            "TEST": {"CHARSET": "utf8mb4", "COLLATION": "utf8mb4_unicode_ci"},
        }
    }
else:
    raise ValueError(
        f"ARUNNER_TEST_DB must be sqlite, postgres or mariadb, not {DATABASE_BACKEND!r}"
    )

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
USE_TZ = True
TIME_ZONE = "UTC"

if os.environ.get("SAMPLE_RUNNER") == "django":
    TEST_RUNNER = "django.test.runner.DiscoverRunner"
else:
    TEST_RUNNER = "arunner.AsyncDiscoverRunner"
