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


_strays: weakref.WeakSet[threading.Thread] = weakref.WeakSet()
_orphans: weakref.WeakSet[threading.Thread] = weakref.WeakSet()


def disown(threads: list[threading.Thread]) -> None:
    """Threads an earlier test left running: still refused, but not charged to later tests."""
    _orphans.update(threads)


def refuse_strays(threads: list[threading.Thread]) -> None:
    """Refuse new connections from test threads that outlive the run, for good.

    After the run the settings point at the real database again, so a late first connection
    from such a thread would reach it. The check stays installed for the rest of the process.
    """
    if not threads:
        return
    _strays.update(threads)
    original = BaseDatabaseWrapper.ensure_connection
    if getattr(original, "arunner_strays", False):
        return

    def ensure_connection(self: BaseDatabaseWrapper) -> None:
        if self.connection is None and threading.current_thread() in _strays:
            raise EscapedQueryError(
                f"arunner refused a connection to {self.alias!r} from thread "
                f"{threading.current_thread().name!r}: a test started it and it outlived the "
                "test run, when only the real database is left."
            )
        original(self)

    ensure_connection.arunner_strays = True  # type: ignore[attr-defined]
    BaseDatabaseWrapper.ensure_connection = ensure_connection  # type: ignore[method-assign]


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
        if threading.current_thread() not in _orphans:
            scope.escapes.append(message)
        raise EscapedQueryError(message)

    def _message(self, scope: Scope, connection: BaseDatabaseWrapper, sql: str) -> str:
        thread = threading.current_thread().name
        statement = sql if len(sql) <= _MAX_SQL else sql[:_MAX_SQL] + "..."
        if threading.current_thread() in _orphans:
            who = "a later test (an earlier test left this thread running)"
        elif scope.test_id:
            who = f"test {scope.test_id}"
        else:
            who = "no running test (between tests)"
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
