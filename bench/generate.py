"""Write a throwaway Django project whose test suites the benchmark times.

The project is generated rather than committed so that the test count and
class size can be varied, and so that every suite shape does exactly the same
work (one insert, one count, one assertion) and differs only in how it is
written: that is what makes the timings comparable.

Each shape becomes one test module of the app ``benchapp`` (``benchapp.test_async``
and so on), so one generated project serves every variant and all of them share
settings, models and database.

``--tables N`` spreads the tests over N models (test i uses table i mod N): a flush-based
variant (``TransactionTestCase``, pytest-django's ``transaction=True``) empties every table
after each test, so its cost depends on how many tables the project has, and one table would
flatter it. The pytest shapes (``pytest_transaction``, ``pytest_db``) are the same tests as
pytest functions for pytest-django and pytest-asyncio (``pytestshapes.py``).

Usage::

    python bench/generate.py [DEST] [--shape async,sync,transaction] [-n 1000] [--tables 40]
"""

from __future__ import annotations

import argparse
import textwrap
from collections.abc import Iterable
from pathlib import Path

# Run as a script, so this directory is on sys.path.
from pytestshapes import CONFTEST_PY, PYTEST_INI, PYTEST_SHAPES, pytest_module

SHAPES = ("async", "sync", "transaction", *PYTEST_SHAPES)
#: Shapes that empty every table after each test; ``--flush-tests`` may make them smaller.
FLUSH_SHAPES = frozenset({"transaction", "pytest_transaction"})
DEFAULT_TESTS = 1000
DEFAULT_PER_CLASS = 50
APP = "benchapp"
DEFAULT_DEST = Path(__file__).resolve().parent / "generated"

MANAGE_PY = """\
#!/usr/bin/env python
import os
import sys
import time
import unittest


def cpu_timed(run):
    \"\"\"The suite's CPU time as a second clock beside unittest's wall time: it leaves out
    the time a busy shared machine keeps this process waiting. Every runner goes through
    ``TextTestRunner.run``, so every variant gets the same line.\"\"\"

    def timed(self, test):
        started = time.process_time()
        try:
            return run(self, test)
        finally:
            self.stream.write(f"Suite CPU time: {time.process_time() - started:.3f}s\\n")

    return timed


if __name__ == "__main__":
    unittest.TextTestRunner.run = cpu_timed(unittest.TextTestRunner.run)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "benchproj.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
"""

# The database is chosen when the settings are imported, not when the project is
# generated, so one project can be timed against every backend.
SETTINGS_PY = """\
import os
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
SECRET_KEY = "bench-not-secret"
DEBUG = False
USE_TZ = True
ALLOWED_HOSTS = ["*"]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "benchapp",
]

_db = os.environ.get("ARUNNER_TEST_DB", "sqlite")
if _db == "sqlite":
    DATABASES = {
        "default": {"ENGINE": "django.db.backends.sqlite3", "NAME": BASE_DIR / "db.sqlite3"}
    }
elif _db == "postgres":
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": "arunner_bench",
            "USER": "postgres",
            "HOST": "127.0.0.1",
            "PORT": "5432",
        }
    }
elif _db == "mariadb":
    try:
        import MySQLdb  # noqa: F401
    except ImportError:
        import pymysql

        pymysql.install_as_MySQLdb()
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.mysql",
            "NAME": "arunner_bench",
            "USER": "root",
            "PASSWORD": "",
            "HOST": "127.0.0.1",
            "PORT": "3306",
            "OPTIONS": {"charset": "utf8mb4"},
        }
    }
else:
    raise ImproperlyConfigured(
        f"ARUNNER_TEST_DB must be sqlite, postgres or mariadb, not {_db!r}"
    )
"""


def model_name(table: int, tables: int) -> str:
    """``Item`` in a one-table project (as before ``--tables``), else ``Item00``, ``Item01``..."""
    return "Item" if tables == 1 else f"Item{table:02d}"


def models_py(tables: int) -> str:
    out = ["from django.db import models"]
    for t in range(tables):
        out += [
            "",
            "",
            f"class {model_name(t, tables)}(models.Model):",
            "    name = models.CharField(max_length=50)",
            "    value = models.IntegerField(default=0)",
        ]
    return "\n".join(out) + "\n"


def migration_py(tables: int) -> str:
    out = [
        "from django.db import migrations, models",
        "",
        "",
        "class Migration(migrations.Migration):",
        "    initial = True",
        "    dependencies = []",
        "    operations = [",
    ]
    for t in range(tables):
        out += [
            "        migrations.CreateModel(",
            f'            name="{model_name(t, tables)}",',
            "            fields=[",
            '                ("id", models.BigAutoField(auto_created=True, primary_key=True, '
            "serialize=False)),",
            '                ("name", models.CharField(max_length=50)),',
            '                ("value", models.IntegerField(default=0)),',
            "            ],",
            "        ),",
        ]
    out.append("    ]")
    return "\n".join(out) + "\n"


# Per shape: the base class, whether the test is a coroutine, and the ORM calls.
# ``{model}`` is filled in per test.
_SHAPE_SPEC: dict[str, tuple[str, bool, str, str]] = {
    "async": ("TestCase", True, "await {model}.objects.acreate", "await {model}.objects.acount()"),
    "sync": ("TestCase", False, "{model}.objects.create", "{model}.objects.count()"),
    "transaction": (
        "TransactionTestCase",
        True,
        "await {model}.objects.acreate",
        "await {model}.objects.acount()",
    ),
}


def test_module(shape: str, n: int, per_class: int, tables: int = 1) -> str:
    """Source of one shape's test module.

    The count assertion doubles as an isolation check: it only holds if the
    previous test's row was rolled back or flushed, so a runner that leaks
    rows fails the benchmark instead of timing it.
    """
    base, is_async, create, count = _SHAPE_SPEC[shape]
    prefix = "async def" if is_async else "def"
    out = [
        f'"""Generated by bench/generate.py: {n} {shape} tests, {per_class} per class."""',
        "",
        f"from django.test import {base}",
        "",
        f"from .models import {', '.join(model_name(t, tables) for t in range(min(n, tables)))}",
    ]
    for first in range(0, n, per_class):
        out += ["", "", f"class {shape.capitalize()}Tests{first // per_class:03d}({base}):"]
        for i in range(first, min(first + per_class, n)):
            model = model_name(i % tables, tables)
            out += [
                f"    {prefix} test_{i:05d}(self) -> None:",
                f'        {create.format(model=model)}(name="t{i}", value={i})',
                f"        self.assertEqual({count.format(model=model)}, 1)",
                "",
            ]
        out.pop()
    return "\n".join(out) + "\n"


def tests_for(shape: str, n: int, flush_tests: int | None) -> int:
    """How many tests a shape's module gets."""
    return flush_tests if flush_tests is not None and shape in FLUSH_SHAPES else n


def generate(
    dest: Path,
    shapes: Iterable[str] = SHAPES,
    n: int = DEFAULT_TESTS,
    per_class: int = DEFAULT_PER_CLASS,
    tables: int = 1,
    flush_tests: int | None = None,
) -> Path:
    """Write the project into ``dest`` and return ``dest``.

    The shapes in ``FLUSH_SHAPES`` get ``flush_tests`` tests when it is given, the others
    ``n`` (``tests_for``). Stale test modules from an earlier generation are removed, so a
    label such as ``benchapp.test_sync`` can never pick up a suite of another size.
    """
    shapes = list(shapes)
    unknown = set(shapes) - set(SHAPES)
    if unknown:
        raise ValueError(f"unknown shape(s) {sorted(unknown)}; choose from {SHAPES}")
    if n < 1 or per_class < 1 or tables < 1 or (flush_tests is not None and flush_tests < 1):
        raise ValueError("n, per_class, tables and flush_tests must be positive")
    files = {
        "manage.py": MANAGE_PY,
        "benchproj/__init__.py": "",
        "benchproj/settings.py": SETTINGS_PY,
        f"{APP}/__init__.py": "",
        f"{APP}/models.py": models_py(tables),
        f"{APP}/migrations/__init__.py": "",
        f"{APP}/migrations/0001_initial.py": migration_py(tables),
        "pytest.ini": PYTEST_INI,
        "conftest.py": CONFTEST_PY,
    }
    for shape in shapes:
        count = tests_for(shape, n, flush_tests)
        files[f"{APP}/test_{shape}.py"] = (
            pytest_module(shape, count, tables, model_name)
            if shape in PYTEST_SHAPES
            else test_module(shape, count, per_class, tables)
        )
    for old in (dest / APP).glob("test_*.py"):
        old.unlink()
    for rel, text in files.items():
        path = dest / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return dest


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=textwrap.dedent(__doc__ or "").split("\n\n")[0],
    )
    parser.add_argument("dest", nargs="?", type=Path, default=DEFAULT_DEST)
    parser.add_argument(
        "--shape",
        default=",".join(SHAPES),
        help="comma-separated subset of: " + ", ".join(SHAPES),
    )
    parser.add_argument("-n", "--tests", type=int, default=DEFAULT_TESTS)
    parser.add_argument("--per-class", type=int, default=DEFAULT_PER_CLASS)
    parser.add_argument("--tables", type=int, default=1, help="models the tests spread over")
    parser.add_argument("--flush-tests", type=int, help="tests in the flush-based shapes")
    args = parser.parse_args(argv)
    shapes = [s for s in args.shape.split(",") if s]
    try:
        dest = generate(
            args.dest, shapes, args.tests, args.per_class, args.tables, args.flush_tests
        )
    except ValueError as exc:
        parser.error(str(exc))
    sizes = ", ".join(f"{s} {tests_for(s, args.tests, args.flush_tests)}" for s in shapes)
    print(f"wrote {dest} ({sizes} tests; {args.tables} table(s))")


if __name__ == "__main__":
    main()
