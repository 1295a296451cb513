"""ORM statements from threads other than the test's: refused, with a message that says why.

Django gives every thread its own connection, so an ORM call from ``asyncio.to_thread``,
``run_in_executor``, anyio's thread pool (every FastAPI sync endpoint) or a plain thread runs
outside the test's transaction and commits (design notes, section 1). The guard watches every
connection created off the test's thread and refuses its statements while a test that relies
on a rollback is running, or between tests; ``TransactionTestCase`` tests commit by design and
are left alone. Connections opened by worker threads are closed after every test.
"""

from __future__ import annotations

import threading
import weakref
from typing import Any

from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.backends.signals import connection_created
from django.db.utils import DatabaseError

__unittest = True

_MAX_SQL = 300


class EscapedQueryError(DatabaseError):
    """A worker thread ran SQL outside the test's transaction."""


class Scope:
    """The test currently running, as the guard on worker threads sees it (process-global:
    a ContextVar does not follow ``run_in_executor``)."""

    __slots__ = ("escapes", "open", "test_id")

    def __init__(self, test_id: str | None, open: bool) -> None:
        self.test_id = test_id
        self.open = open
        self.escapes: list[str] = []


class ThreadGuard:
    """Guards connections created off the home thread, and closes them after each test."""

    def __init__(self) -> None:
        self.home = threading.get_ident()
        self.scope = Scope(None, open=False)
        self._foreign: weakref.WeakSet[BaseDatabaseWrapper] = weakref.WeakSet()

    def install(self) -> None:
        connection_created.connect(self._watch, dispatch_uid="arunner-thread-guard")

    def uninstall(self) -> None:
        connection_created.disconnect(dispatch_uid="arunner-thread-guard")
        self.close_foreign()

    def begin(self, test_id: str, open: bool) -> Scope:
        self.scope = Scope(test_id, open)
        return self.scope

    def end(self, scope: Scope) -> None:
        """Close worker connections; fail the test if any of its threads escaped."""
        self.scope = Scope(None, open=False)
        self.close_foreign()
        if scope.escapes:
            raise EscapedQueryError(scope.escapes[0])

    def close_foreign(self) -> None:
        for connection in list(self._foreign):
            if connection.connection is None:
                continue
            connection.inc_thread_sharing()
            try:
                connection.close()
            finally:
                connection.dec_thread_sharing()

    def _watch(self, sender: Any, connection: BaseDatabaseWrapper, **kwargs: Any) -> None:
        if threading.get_ident() == self.home:
            return
        self._foreign.add(connection)
        if self._check not in connection.execute_wrappers:
            connection.execute_wrappers.append(self._check)

    def _check(self, execute: Any, sql: str, params: Any, many: bool, context: dict) -> Any:
        scope = self.scope
        if scope.open:
            return execute(sql, params, many, context)
        message = self._message(scope, context["connection"], sql)
        scope.escapes.append(message)
        raise EscapedQueryError(message)

    def _message(self, scope: Scope, connection: BaseDatabaseWrapper, sql: str) -> str:
        thread = threading.current_thread().name
        statement = sql if len(sql) <= _MAX_SQL else sql[:_MAX_SQL] + "..."
        who = f"test {scope.test_id}" if scope.test_id else "no running test (between tests)"
        return (
            f"arunner refused SQL from thread {thread!r} on database {connection.alias!r} "
            f"during {who}: {statement}\n"
            "That thread has its own connection, outside the test's transaction: the write "
            "would commit and survive the test. Fix it with one of:\n"
            "  - make the call thread-sensitive: sync_to_async(fn) (thread_sensitive=True is "
            "the default) instead of to_thread / run_in_executor / a thread;\n"
            "  - route worker-thread ORM calls into the test: --db-threads route, "
            "ARUNNER_DB_THREADS=route, or arunner_db_threads = 'route' on the test class;\n"
            "  - use TransactionTestCase, which commits and flushes."
        )
