"""ORM statements from outside the test's transaction: refused, routed in, or caught as leaks.

Django gives every thread its own connection, so an ORM call from ``asyncio.to_thread``,
``run_in_executor``, anyio's thread pool (every FastAPI sync endpoint) or a plain thread runs
outside the test's transaction and commits, out of reach of the rollback that ends the test.
While a test that relies on a rollback runs, the guard:

* in strict mode (the default) refuses the statements the code under test runs on a
  connection created off the test's thread, and fails the test even if the thread
  swallowed the error;
* in route mode runs those threads' calls on the test's own connection (``route``);
* in every mode refuses writes through any other connection of the test's thread (a second
  wrapper made by hand, another ``ConnectionHandler``): leak detection.

``TransactionTestCase`` tests commit by design and are left alone, and so is every test that
holds no rolled-back transaction (``SimpleTestCase``, sync unittest tests, a unittest coroutine
test with no database to roll back): their threads' statements commit, as they would without
the thread, so nothing is at stake. Under ``--compat`` the run's strict mode is off for every
test, as under ``DiscoverRunner``; a class still opts in with its class attribute, and
``--db-threads route`` still routes. Connections opened by worker threads are closed after
every test and when the run ends.

Which test a worker's call belongs to is process-global state (the running test), refined
twice: the session of a coroutine test rides in a ContextVar (``loops.OWNER``) into
``to_thread``, anyio and ``sync_to_async`` workers and, through arunner's loop, into
``run_in_executor`` jobs, and
a thread started before the running test (``ThreadWatch`` records them) belongs to an earlier
one. Calls of an earlier test are refused: they never run in the current test, and do not
fail it.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import TYPE_CHECKING, Any, ClassVar, cast

from django.db import connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.backends.signals import connection_created

from arunner.core import inventory
from arunner.core.guard import TestPlan
from arunner.core.loops import OWNER
from arunner.core.optionvalues import OptionError
from arunner.guards import executewrappers, sqlkind, threadscope, transactionend
from arunner.guards.route import RouteSession
from arunner.guards.threadscope import (
    BETWEEN_TESTS,
    BETWEEN_TESTS_COMPAT,
    CLASS_ATTRIBUTE,
    Choice,
    EscapedQueryError,
    LeakedWriteError,
    Scope,
    disowned,
    refuse_strays,
)

if TYPE_CHECKING:
    from arunner.core.drain import ThreadWatch
    from arunner.core.phases import TestSession

__unittest = True

_MAX_SQL = 300


_FIXES = (
    "Fix it with one of:\n"
    "  - make the call thread-sensitive: sync_to_async(fn) (thread_sensitive=True is the "
    "default) instead of to_thread / run_in_executor / a thread;\n"
    "  - route worker-thread ORM calls into the test: --db-threads route, "
    f"ARUNNER_DB_THREADS=route, or {CLASS_ATTRIBUTE} = 'route' on the test class;\n"
    "  - use TransactionTestCase, which commits and flushes."
)


def running_test_at_stake() -> bool:
    """Whether the isolation of the test that is running is at stake (True outside a run by
    arunner's suite, where nothing says otherwise)."""
    guard = ThreadGuard.active
    return guard is None or guard.scope.at_stake


class ThreadGuard:
    """Watches every connection the run creates; routes, refuses and closes per test."""

    active: ClassVar[ThreadGuard | None] = None

    def __init__(
        self,
        aliases: Iterable[str] = (),
        threads: ThreadWatch | None = None,
        compat: bool = False,
        db_threads: str = "strict",
    ) -> None:
        self.home = threading.get_ident()
        self.aliases = frozenset(aliases)
        self.threads = threads
        self.compat = compat
        self.db_threads = db_threads
        self.between_tests = BETWEEN_TESTS_COMPAT if compat else BETWEEN_TESTS
        self.scope = self.between_tests
        self._foreign: set[BaseDatabaseWrapper] = set()
        self.statements = transactionend.StatementWatch(self.aliases)

    def install(self) -> None:
        connection_created.connect(self._watch, dispatch_uid="arunner-thread-guard")
        self.statements.install()
        ThreadGuard.active = self

    def uninstall(self) -> None:
        """Also refuses, for good, the threads tests started that outlive the run."""
        if self.threads is not None:
            refuse_strays(self.threads.alive())
        ThreadGuard.active = None
        self.statements.uninstall()
        if self.scope.route is not None:
            self.scope.route.end()
        connection_created.disconnect(dispatch_uid="arunner-thread-guard")
        self.close_foreign()

    def prepare(self, plan: TestPlan) -> Choice:
        """Every test: ``choose`` decides, once per class and kind, how its tests are guarded."""
        return threadscope.choose(plan.test_class, plan.holds_atomic, self.db_threads, self.compat)

    def begin(self, test: Any, choice: Choice) -> Scope:
        """Start guarding ``test`` as ``choose`` decided for its class; the error of a bad
        class attribute (``choice.problem``) fails it."""
        earlier = self.threads.before_now() if self.threads is not None else frozenset()
        mode = choice.mode
        scope = Scope(test, mode, earlier, choice.at_stake)
        if choice.problem is not None:
            scope.failures.append(OptionError(choice.problem))
        self.scope = scope
        if mode == "route":
            scope.route = RouteSession(self.aliases, self.home, lambda: self.origin() is test)
            scope.route.begin()
        return scope

    def end(self, test: Any, scope: Scope) -> None:
        """Stop routing, close worker connections; fail the test for what it was refused,
        and for ending the transaction it holds (``transactionend``)."""
        try:
            if scope.route is not None:
                scope.failures += map(EscapedQueryError, scope.route.end())
        finally:
            self._check_transactions(scope)
            self.scope = self.between_tests
            if self._foreign:
                self.close_foreign()
        if scope.failures:
            first = scope.failures[0]
            more = len(scope.failures) - 1
            if more:
                first.args = (f"{first.args[0]}\n(and {more} more refused in this test)",)
            raise first

    def _check_transactions(self, scope: Scope) -> None:
        for alias in self.statements.aliases:
            try:
                transactionend.check(scope.test, connections[alias])
            except transactionend.TransactionEndedError as exc:
                scope.failures.append(exc)

    def origin(self) -> Any:
        """The test a worker thread's call belongs to (None: an earlier test, or none).

        Callers compare it with the running test by identity; its id serves only messages.
        """
        session = OWNER.get()
        if session is not None:
            return cast("TestSession", session).test
        thread = threading.current_thread()
        if disowned(thread) or thread in self.scope.earlier:
            return None
        return self.scope.test

    def close_foreign(self) -> None:
        """Close the connections worker threads opened (left alone: one shared on purpose,
        as ``LiveServerTestCase`` shares the in-memory SQLite one with its server thread)."""
        while self._foreign:
            connection = self._foreign.pop()
            if connection.connection is None or connection.allow_thread_sharing:
                continue
            connection.inc_thread_sharing()
            try:
                _really_close(connection)
            finally:
                connection.dec_thread_sharing()

    def _watch(self, sender: Any, connection: BaseDatabaseWrapper, **kwargs: Any) -> None:
        if threading.get_ident() != self.home:
            self._foreign.add(connection)
            hook = self._refuse
        elif _is_the_threads_own(connection):
            return
        else:
            hook = self._refuse_writes
        executewrappers.add(connection, hook)

    def _refuse(self, execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        """On a connection a worker thread opened: nothing runs while a test needs a rollback."""
        scope = self.scope
        if scope.open or _backend_read(sql):
            return execute(sql, params, many, context)
        origin = self.origin()
        message = self._escape_message(scope, origin, context["connection"], sql)
        if origin is not None and origin is scope.test:
            self._charge(scope, EscapedQueryError(message))
        raise EscapedQueryError(message)

    def _refuse_writes(self, execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        """On another connection of the test's thread: reads pass, writes would commit."""
        scope = self.scope
        connection = context["connection"]
        if (
            scope.open
            or scope.test is None
            or not sqlkind.writes(sql)
            or inventory.in_test_atomic(connection)
        ):
            return execute(sql, params, many, context)
        error = LeakedWriteError(
            f"arunner refused a write from thread {threading.current_thread().name!r} through "
            f"a connection to {connection.alias!r} that is not the test's own, during test "
            f"{scope.test_id}: {_short(sql)}\n"
            "It is outside the test's rolled-back transaction, so it would commit and survive "
            "the test. Use the test's connection (django.db.connections[alias] on the test's "
            "thread) instead of a second one."
        )
        if threading.get_ident() == self.home or self.origin() is scope.test:
            self._charge(scope, error)
        raise error

    def _charge(self, scope: Scope, error: EscapedQueryError) -> None:
        if scope.expected is not None:
            scope.expected.append(str(error))
        else:
            scope.failures.append(error)

    def _escape_message(
        self, scope: Scope, origin: Any, connection: BaseDatabaseWrapper, sql: str
    ) -> str:
        thread = threading.current_thread().name
        head = f"arunner refused SQL from thread {thread!r} on database {connection.alias!r}"
        if origin is not None and origin is scope.test:
            return (
                f"{head} during test {scope.test_id}: {_short(sql)}\n"
                "That thread has its own connection, outside the test's transaction: it does "
                f"not see the test's rows, and its writes would commit and survive the test. "
                f"{_FIXES}"
            )
        started_by = f"test {origin.id()}" if origin is not None else "an earlier test"
        running = f"test {scope.test_id}" if scope.test_id else "no test (between tests)"
        return (
            f"{head}: {_short(sql)}\n"
            f"The work belongs to {started_by}, which has ended; running now: {running}. "
            "Work a test starts (threads, executor jobs, tasks) must finish before the test "
            "does: its statements never run in a later test."
        )


def _backend_read(sql: str) -> bool:
    """A read Django's backend runs for itself on a new connection (the server's version and
    modes, ``BEGIN``), not one the code under test asked for. It commits nothing; letting it
    through keeps the refusal, and its message, on the statement the code asked for."""
    if sqlkind.writes(sql):
        return False
    frame: FrameType | None = sys._getframe(2)
    while frame is not None:
        module: str = frame.f_globals.get("__name__", "")
        if module != "django.db.backends.utils" and not module.startswith("arunner."):
            return module.startswith("django.db.backends.")
        frame = frame.f_back
    return False


def _short(sql: str) -> str:
    return sql if len(sql) <= _MAX_SQL else sql[:_MAX_SQL] + "..."


def _is_the_threads_own(connection: BaseDatabaseWrapper) -> bool:
    alias = connection.alias
    return alias in connections.settings and connections[alias] is connection


def _really_close(connection: BaseDatabaseWrapper) -> None:
    """Close, including a worker's connection to an in-memory SQLite test database, which
    ``close()`` keeps open (closing the last one would drop the database; the test's thread
    holds another)."""
    if connection.vendor == "sqlite" and connection.is_in_memory_db():
        BaseDatabaseWrapper.close(connection)
    else:
        connection.close()


@contextmanager
def expected_refusals() -> Iterator[list[str]]:
    """Collect the refusals of the running test inside the block instead of failing it.

    For tests that check that some code is refused: ``with expected_refusals() as refused:``
    then assert on ``refused`` (the messages).
    """
    guard = ThreadGuard.active
    if guard is None or guard.scope.test is None:
        raise RuntimeError("expected_refusals() works only inside a test run by arunner")
    scope = guard.scope
    collected: list[str] = []
    previous, scope.expected = scope.expected, collected
    try:
        yield collected
    finally:
        scope.expected = previous
