"""Settings for arunner's own test suite, which arunner runs (dogfooding)."""

from tests.databases import database

SECRET_KEY = "arunner-tests-not-secret"
INSTALLED_APPS = ["tests.testapp"]
DATABASES = {"default": database("arunner_tests")}
TEST_RUNNER = "arunner.AsyncDiscoverRunner"
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
ROOT_URLCONF = "tests.testapp.urls"
ALLOWED_HOSTS = ["testserver", "localhost"]
