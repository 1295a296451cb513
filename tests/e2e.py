"""Throwaway Django projects that arunner's end-to-end tests run as subprocesses.

Each project lives in a temporary directory with one app (``e2eapp``: ``Item`` and ``Marker``
models) and the test modules a test writes for it. Runs use the database backend of the
outer run (``ARUNNER_TEST_DB``); ``--keepdb`` runs let a test read the test database
afterwards, and ``cleanup`` drops it.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import textwrap
import uuid
from dataclasses import dataclass
from pathlib import Path

from tests.databases import BACKEND, database

#: Generous bound on one subprocess run: it only stops a hang from eating CI's time.
RUN_TIMEOUT = 300

#: What of the outer run's environment would change a project's run: which tests it takes
#: (a sharded run of arunner's own tests, ``ARUNNER_SHARD=2/4``, must not shard the projects'
#: runs too), what it reruns, and the annotations a run inside GitHub Actions prints.
NOT_INHERITED = (
    "ARUNNER_SHARD",
    "ARUNNER_COLLECT_ONLY",
    "ARUNNER_LABELS_FROM",
    "ARUNNER_RERUNS",
    "ARUNNER_RERUNS_DELAY",
    "GITHUB_ACTIONS",
    "GITHUB_WORKSPACE",
)

#: A test module with one passing test, for runs that are about the command, not the tests.
PASSING = """
from django.test import SimpleTestCase


class Passing(SimpleTestCase):
    def test_passes(self):
        pass
"""

MODELS = """
from django.db import models


class Item(models.Model):
    name = models.CharField(max_length=100)


class Marker(models.Model):
    label = models.CharField(max_length=100)
"""

SETTINGS = """
SECRET_KEY = "e2e"
INSTALLED_APPS = ["e2eapp"]
DATABASES = {{"default": {database!r}}}
TEST_RUNNER = {runner!r}
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
"""

MANAGE = """
import os
import sys

if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "e2eproject.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
"""


@dataclass
class Run:
    code: int
    output: str

    @property
    def closing_line(self) -> str:
        lines = [line for line in self.output.splitlines() if line.strip()]
        return lines[-1] if lines else ""


def run_command(argv: list[str], cwd: Path, env: dict[str, str]) -> Run:
    """Run a command to completion, stdout and stderr together, bounded by RUN_TIMEOUT."""
    done = subprocess.run(
        argv,
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=RUN_TIMEOUT,
        check=False,
    )
    return Run(done.returncode, done.stdout)


class Project:
    """A temporary Django project; use as a context manager so it is always removed."""

    def __init__(self, tests: dict[str, str], runner: str = "arunner.AsyncDiscoverRunner"):
        self.root = Path(tempfile.mkdtemp(prefix="arunner-e2e-"))
        self.name = f"arunner_e2e_{uuid.uuid4().hex[:10]}"
        self.sqlite_test_file = str(self.root / "test_db.sqlite3")
        entry = database(self.name, sqlite_test_file=self.sqlite_test_file)
        if BACKEND == "sqlite":
            entry["NAME"] = str(self.root / "real_db.sqlite3")
        self._write("manage.py", MANAGE)
        self._write("e2eproject/__init__.py", "")
        self._write("e2eproject/settings.py", SETTINGS.format(database=entry, runner=runner))
        self._write("e2eapp/__init__.py", "")
        self._write("e2eapp/models.py", MODELS)
        self._write("e2eapp/tests/__init__.py", "")
        for module, source in tests.items():
            self._write(f"e2eapp/tests/{module}.py", source)

    def write(self, relative: str, source: str) -> None:
        """Add or replace a file of the project (the source is dedented)."""
        self._write(relative, source)

    def _write(self, relative: str, source: str) -> None:
        path = self.root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(source).lstrip(), encoding="utf-8")

    def __enter__(self) -> Project:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.cleanup()

    def run(
        self,
        *args: str,
        command: str = "arunner",
        env: dict | None = None,
        unset: tuple[str, ...] = (),
    ) -> Run:
        """Run ``arunner ARGS`` (or ``manage.py test ARGS``) in the project; ``unset`` names
        environment variables to leave out (``DJANGO_SETTINGS_MODULE`` is set otherwise)."""
        if command == "arunner":
            argv = [sys.executable, "-m", "arunner", *args]
        else:
            argv = [sys.executable, "manage.py", "test", *args]
        inherited = {k: v for k, v in os.environ.items() if k not in NOT_INHERITED}
        full_env = {**inherited, "DJANGO_SETTINGS_MODULE": "e2eproject.settings", **(env or {})}
        for name in unset:
            full_env.pop(name, None)
        return run_command(argv, self.root, full_env)

    def test_db_count(self, table: str) -> int:
        """Rows in a table of the kept test database (after a ``--keepdb`` run)."""
        if BACKEND == "sqlite":
            with sqlite3.connect(self.sqlite_test_file) as conn:
                return conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
        cursor, close = _server_cursor(f"test_{self.name}")
        try:
            cursor.execute(f"SELECT COUNT(*) FROM {table}")
            return cursor.fetchone()[0]
        finally:
            close()

    def real_db_exists(self) -> bool:
        """Whether the project's non-test database was ever created or written."""
        if BACKEND == "sqlite":
            return (self.root / "real_db.sqlite3").exists()
        return _server_db_exists(self.name)

    def test_db_exists(self) -> bool:
        """Whether the server still has this project's test database."""
        return _server_db_exists(f"test_{self.name}")

    def test_dbs_left(self) -> list[str]:
        """The project's test database and ``--parallel`` clones that still exist."""
        if BACKEND == "sqlite":
            return sorted(path.name for path in self.root.glob("test_db*.sqlite3"))
        return _server_dbs_like(f"test_{self.name}")

    def cleanup(self) -> None:
        try:
            if BACKEND != "sqlite":
                for name in {f"test_{self.name}", *self.test_dbs_left()}:
                    _drop_server_db(name)
        finally:
            shutil.rmtree(self.root, ignore_errors=True)


def _server_cursor(dbname: str | None):
    entry = database(dbname or "")
    if BACKEND == "postgres":
        import psycopg

        conn = psycopg.connect(
            host=entry["HOST"],
            port=entry["PORT"],
            user="postgres",
            dbname=dbname or "postgres",
            autocommit=True,
        )
    else:
        import MySQLdb

        kwargs = {"host": entry["HOST"], "port": int(entry["PORT"]), "user": "root"}
        if dbname:
            kwargs["database"] = dbname
        conn = MySQLdb.connect(**kwargs)
        conn.autocommit(True)
    return conn.cursor(), conn.close


def _server_db_exists(name: str) -> bool:
    cursor, close = _server_cursor(None)
    try:
        if BACKEND == "postgres":
            cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
        else:
            cursor.execute("SHOW DATABASES LIKE %s", [name])
        return cursor.fetchone() is not None
    finally:
        close()


def _server_dbs_like(prefix: str) -> list[str]:
    cursor, close = _server_cursor(None)
    try:
        if BACKEND == "postgres":
            cursor.execute("SELECT datname FROM pg_database WHERE datname LIKE %s", [prefix + "%"])
        else:
            cursor.execute("SHOW DATABASES LIKE %s", [prefix + "%"])
        return sorted(row[0] for row in cursor.fetchall())
    finally:
        close()


def _drop_server_db(name: str) -> None:
    cursor, close = _server_cursor(None)
    try:
        if BACKEND == "postgres":
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        else:
            cursor.execute(f"DROP DATABASE IF EXISTS `{name}`")
    finally:
        close()
