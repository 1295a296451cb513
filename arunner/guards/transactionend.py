"""A test that ends its transaction behind Django's back fails itself, not the tests after it.

A ``TestCase`` test runs inside a transaction that Django rolls back afterwards. A raw
``COMMIT`` or ``ROLLBACK`` through a cursor, or ``connection.connection.commit()``, ends that
transaction without Django knowing: the test's writes (and its class's ``setUpTestData``)
become permanent, the test passes, and Django's rollback fails quietly, leaving the
connection broken; every later test of the class then fails with "An error occurred in the
current transaction". Under ``DiscoverRunner`` too.

arunner notices, cheaply, at the end of each test that holds a test transaction:

* a statement that ends a transaction, seen on the test's own connection (an execute wrapper
  that looks at the statement's first word);
* the driver's own view, which costs no round trip on SQLite (``in_transaction``) and
  PostgreSQL (the transaction status psycopg keeps); on MariaDB one ``SELECT @@in_transaction``
  (MySQL has no such variable: there only the statements are seen).

Then it fails the test with ``TransactionEndedError`` and gives Django back the transaction it
believes in: a new one, with the savepoints of the atomic blocks still open, so the class's
later tests run normally (on a database that now holds the committed rows, which the run's
last lines warn of).
"""

from __future__ import annotations

import re
import sys
import unittest
from collections.abc import Iterable
from types import FrameType
from typing import Any, ClassVar

from django.db import connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.utils import DatabaseError

from arunner.core import inventory
from arunner.guards import executewrappers

__unittest = True

_NOT_THE_CALLER = ("django.", "asgiref.", "arunner.", "contextlib", "concurrent.", "threading")

_ENDS = re.compile(r"\s*(COMMIT|ROLLBACK(?!\s+TO\b)|END|ABORT)\b", re.I)

#: Savepoint statements (Django's atomic blocks).
_SAVEPOINT = re.compile(r"\s*(SAVEPOINT|RELEASE\s+SAVEPOINT|ROLLBACK\s+TO)\b", re.I)

#: Statements that start no transaction on MariaDB: savepoints (Django's atomic blocks), and
#: those that read no table (``SELECT 1``, ``SET``, ``SHOW``, ``DO``). Any other statement
#: there reads or writes a table, which begins the transaction.
_STARTS_NONE = re.compile(
    r"\s*(SAVEPOINT|RELEASE\s+SAVEPOINT|ROLLBACK\s+TO|SHOW)\b"
    r"|\s*(SELECT|SET|DO)\b(?!.*\bFROM\b)",
    re.I | re.S,
)

#: Driver transaction status "idle" (no transaction), the same in psycopg 2 and 3.
_PG_IDLE = 0


class TransactionEndedError(DatabaseError):
    """The test committed or rolled back the transaction its test case had opened."""


class StatementWatch:
    """An execute wrapper on the test thread's own connections: records, per alias, until the
    test's end takes it, whether a statement ran while a test held a transaction (on
    PostgreSQL and MariaDB that began it on the server) and the first that ended it."""

    active: ClassVar[StatementWatch | None] = None

    def __init__(self, aliases: Iterable[str]) -> None:
        self.aliases = sorted(aliases)
        #: Per alias: the statement that ended the test's transaction, and where it ran.
        self.seen: dict[str, tuple[str, str]] = {}
        self.began: set[str] = set()

    def install(self) -> None:
        for alias in self.aliases:
            executewrappers.add(connections[alias], self, outermost=True)
        StatementWatch.active = self

    def uninstall(self) -> None:
        StatementWatch.active = None
        for alias in self.aliases:
            executewrappers.remove(connections[alias], self)
        self.seen.clear()
        self.began.clear()

    def __call__(self, execute: Any, sql: Any, params: Any, many: bool, context: Any) -> Any:
        connection = context["connection"]
        if inventory.in_test_atomic(connection):
            if not _starts_none(connection, sql):
                self.began.add(connection.alias)
            match = _ENDS.match(sql) if isinstance(sql, str) else None
            if match is not None:
                self.seen.setdefault(connection.alias, (match.group(1).upper(), _caller()))
        return execute(sql, params, many, context)

    def take(self, alias: str) -> tuple[tuple[str, str] | None, bool]:
        """The statement that ended the transaction on ``alias``, and whether one ran."""
        began = alias in self.began
        self.began.discard(alias)
        return self.seen.pop(alias, None), began


def _starts_none(connection: BaseDatabaseWrapper, sql: Any) -> bool:
    """Whether ``sql`` leaves the transaction unbegun on the server: a savepoint anywhere
    (it begins with Django's first statement on PostgreSQL, and by itself never on MariaDB),
    and on MariaDB also a statement that reads no table."""
    if not isinstance(sql, str):
        return False
    if connection.vendor == "mysql":
        return _STARTS_NONE.match(sql) is not None
    return _SAVEPOINT.match(sql) is not None


def _caller() -> str:
    """Where the test's code ran the statement: the innermost frame outside Django, asgiref,
    arunner and the standard library's plumbing (looked up only for a statement that ends a
    transaction)."""
    frame: FrameType | None = sys._getframe(2)
    while frame is not None:
        module = frame.f_globals.get("__name__", "")
        if not module.startswith(_NOT_THE_CALLER):
            return f" at {frame.f_code.co_filename}:{frame.f_lineno}"
        frame = frame.f_back
    return ""


def _began(connection: BaseDatabaseWrapper, statement_ran: bool) -> bool:
    """Whether the server has the transaction: SQLite's begins with Django's ``BEGIN``; on
    PostgreSQL with the first statement (a savepoint of an atomic block, or one the test
    ran); on MariaDB with the first statement the test ran that reads or writes a table
    (``statement_ran``: not a savepoint, not ``SELECT 1``, which there start none). A test
    that ran none never began it."""
    if connection.vendor == "sqlite":
        return True
    if connection.vendor == "postgresql":
        return statement_ran or any(connection.savepoint_ids)
    return statement_ran


def driver_in_transaction(connection: BaseDatabaseWrapper) -> bool | None:
    """Whether the database driver says a transaction is open (None: it cannot say)."""
    try:
        return _driver_in_transaction(connection)
    except Exception:  # a connection the server or the test closed: not this check's matter
        return None


def _driver_in_transaction(connection: BaseDatabaseWrapper) -> bool | None:
    raw = connection.connection
    if raw is None:
        return None
    if connection.vendor == "sqlite":
        return bool(raw.in_transaction)
    if connection.vendor == "postgresql":
        info = getattr(raw, "info", None)  # psycopg 3; psycopg2 has the method
        status = info.transaction_status if info is not None else raw.get_transaction_status()
        return int(status) != _PG_IDLE
    if connection.vendor == "mysql" and getattr(connection, "mysql_is_mariadb", False):
        cursor = raw.cursor()
        try:
            cursor.execute("SELECT @@in_transaction")
            return bool(cursor.fetchone()[0])
        finally:
            cursor.close()
    return None


def check(test: Any, connection: BaseDatabaseWrapper) -> None:
    """Raise ``TransactionEndedError`` when ``test`` ended the transaction it holds on
    ``connection``, after opening a new one."""
    watch = StatementWatch.active
    statement, began = watch.take(connection.alias) if watch is not None else (None, False)
    if (
        connection.connection is None
        or connection.closed_in_transaction  # closed under --compat: Django says so itself
        or not inventory.in_test_atomic(connection)
    ):
        return
    if statement is None and not (
        _began(connection, began) and driver_in_transaction(connection) is False
    ):
        return
    restore(connection)
    raise TransactionEndedError(_message(test, connection.alias, statement))


def restore(connection: BaseDatabaseWrapper) -> None:
    """Open the transaction and the savepoints Django believes are open, so its rollbacks at
    the end of the test and of the class work: what followed the ending statement in an
    implicit transaction is rolled back first."""
    raw = connection.connection
    raw.rollback()
    cursor = raw.cursor()
    try:
        if connection.vendor == "sqlite":
            mode = getattr(connection, "transaction_mode", None)
            cursor.execute(f"BEGIN {mode}" if mode else "BEGIN")
        for sid in connection.savepoint_ids:
            if sid is not None:
                cursor.execute(connection.ops.savepoint_create_sql(sid))
    finally:
        cursor.close()


def _message(test: Any, alias: str, statement: tuple[str, str] | None) -> str:
    name = test.id() if isinstance(test, unittest.TestCase) else str(test)
    if statement is None:
        did = (
            "committed or rolled back on the driver's connection "
            "(connection.connection.commit() or .rollback())"
        )
    else:
        did = f"ran {statement[0]!r} through a cursor{statement[1]}"
    return (
        f"arunner: test {name} ended its transaction on database {alias!r} behind Django's "
        f"back: it {did}. What was written before that in the transaction (the test's rows, "
        "and its class's setUpTestData) was committed or discarded outside Django's "
        "rollback, and what was committed is now permanent in the test database; later "
        "tests may see it. arunner opened a new transaction for the tests after it. Leave "
        "the transaction to the test case: use transaction.atomic() or savepoints inside "
        "the test, or TransactionTestCase for code that must commit."
    )


def committed_tests(result: unittest.TestResult) -> list[str]:
    """The tests of a run that ended their transaction (from the errors' text, which
    ``--parallel`` workers send too)."""
    marker = TransactionEndedError.__name__
    return sorted(
        {test.id() for test, text in result.errors if marker in text and "arunner: test" in text}
    )


def warning(result: unittest.TestResult, keepdb: bool) -> str | None:
    """The run's closing warning when tests ended their transaction."""
    tests = committed_tests(result)
    if not tests:
        return None
    kept = (
        "--keepdb keeps it: run once without --keepdb to start from a clean one"
        if keepdb
        else "it is dropped at the end of this run"
    )
    return (
        f"arunner: warning: the test database may hold rows committed by {len(tests)} "
        f"test(s) that ended their transaction ({'; '.join(tests)}), and the tests after "
        f"them ran with those rows; {kept}."
    )
