"""DATABASES for arunner's own tests and the throwaway projects they run.

``ARUNNER_TEST_DB`` picks the backend: sqlite (default), postgres or mariadb. Servers are
taken from ``ARUNNER_PG_HOST/PORT`` and ``ARUNNER_MARIADB_HOST/PORT`` (defaults: the local
ones).
"""

from __future__ import annotations

import os
from typing import Any

BACKEND = os.environ.get("ARUNNER_TEST_DB", "sqlite")


def database(name: str, backend: str = BACKEND, sqlite_test_file: str | None = None) -> dict:
    """One DATABASES entry named ``name`` on the chosen backend."""
    if backend == "sqlite":
        entry: dict[str, Any] = {"ENGINE": "django.db.backends.sqlite3", "NAME": f"{name}.sqlite3"}
        if sqlite_test_file:
            entry["TEST"] = {"NAME": sqlite_test_file}
        return entry
    if backend == "postgres":
        return {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": name,
            "USER": "postgres",
            "HOST": os.environ.get("ARUNNER_PG_HOST", "127.0.0.1"),
            "PORT": os.environ.get("ARUNNER_PG_PORT", "5432"),
        }
    if backend == "mariadb":
        try:
            import MySQLdb  # noqa: F401
        except ImportError:
            import pymysql

            pymysql.install_as_MySQLdb()
        return {
            "ENGINE": "django.db.backends.mysql",
            "NAME": name,
            "USER": "root",
            "PASSWORD": "",
            "HOST": os.environ.get("ARUNNER_MARIADB_HOST", "127.0.0.1"),
            "PORT": os.environ.get("ARUNNER_MARIADB_PORT", "3306"),
            "OPTIONS": {"charset": "utf8mb4"},
            "TEST": {"CHARSET": "utf8mb4", "COLLATION": "utf8mb4_unicode_ci"},
        }
    raise ValueError(f"ARUNNER_TEST_DB must be sqlite, postgres or mariadb, not {backend!r}")


def skip_missing(test: Any, reason: str) -> None:
    """Skip a test whose optional package is missing on this machine; in CI, where the test
    extras install every one of them, fail instead."""
    if os.environ.get("CI") == "true":
        test.fail(f"{reason}, but CI installs every test extra")
    test.skipTest(reason)
