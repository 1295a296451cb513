"""Settings for arunner's own test suite, which arunner runs (dogfooding)."""

import os

from tests.databases import database

SECRET_KEY = "arunner-tests-not-secret"
INSTALLED_APPS = ["tests.testapp"]
# ARUNNER_TESTS_DB_NAME lets two checkouts run the suite on one server at once.
DATABASES = {"default": database(os.environ.get("ARUNNER_TESTS_DB_NAME", "arunner_tests"))}
TEST_RUNNER = "arunner.AsyncDiscoverRunner"
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
ROOT_URLCONF = "tests.testapp.urls"
ALLOWED_HOSTS = ["testserver", "localhost"]
