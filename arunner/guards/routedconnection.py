"""Route mode's shared connection: the test's own wrapper, taken in turns by worker threads.

``RoutedConnection`` shares the test's wrapper with worker threads (``inc_thread_sharing``, as
``LiveServerTestCase`` shares it) and makes them take turns on it under a ``UnitLock``: a
cursor from creation to ``close`` (``HeldCursor``), a worker's outermost ``atomic()`` block,
and a worker's call outside its own atomic block, which gets a savepoint of its own so that a
failing statement is undone alone. Which connection a thread gets, and when routing ends, is
``route``'s.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Iterator
from contextlib import suppress
from typing import Any

from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.utils import DatabaseError

from arunner.core import inventory
from arunner.guards import executewrappers
from arunner.guards.unitlock import UnitLock

__unittest = True

#: Seconds a thread waits for the test's connection before it gives up with both stacks.
WAIT_LIMIT = 10.0


_ABSENT = object()


_savepoint_numbers = itertools.count(1)


class RouteEndedError(DatabaseError):
    """A worker thread's ORM call arrived after the test it belongs to had ended."""


class HeldCursor:
    """A cursor that keeps the connection's lock until it is closed (or dropped)."""

    __slots__ = ("_cursor", "_release")

    def __init__(self, cursor: Any, release: Callable[[], None]) -> None:
        self._cursor = cursor
        self._release: Callable[[], None] | None = release

    def __getattr__(self, name: str) -> Any:
        if name in HeldCursor.__slots__:
            raise AttributeError(name)
        return getattr(self._cursor, name)

    def __iter__(self) -> Iterator[Any]:
        return iter(self._cursor)

    def __enter__(self) -> HeldCursor:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        with suppress(self._cursor.db.Database.Error):
            self.close()

    def close(self) -> None:
        try:
            self._cursor.close()
        finally:
            self._done()

    def _done(self) -> None:
        release, self._release = getattr(self, "_release", None), None
        if release is not None:
            release()

    def __del__(self) -> None:
        self._done()


class RoutedConnection:
    """One of the test's connections, shared with worker threads for the length of a test.

    A worker's savepoints are released when its outermost unit ends, not right after its
    statement: SQLite refuses to release one while a statement is still being stepped (an
    ``INSERT ... RETURNING`` whose row is not fetched yet). Releasing the earliest one
    releases the ones nested in it.
    """

    def __init__(self, wrapper: BaseDatabaseWrapper, home: int, belongs: Callable[[], bool]):
        self.wrapper = wrapper
        self.home = home
        self.belongs = belongs
        self.lock = UnitLock(f"the test's connection to {wrapper.alias!r}", WAIT_LIMIT)
        self.closed = False
        #: The lock owner's (a worker's) atomic depth and earliest unreleased savepoint.
        self.atomic_depth = 0
        self._unreleased: str | None = None
        self._outer: tuple[str, bool, Any] | None = None
        self._replaced: dict[str, Any] = {}

    # --- installation ---------------------------------------------------------------------

    def install(self) -> None:
        wrapper = self.wrapper
        wrapper.inc_thread_sharing()
        hooks = {
            "make_cursor": self._holding(wrapper.make_cursor),
            "make_debug_cursor": self._holding(wrapper.make_debug_cursor),
            "close": self._closing(wrapper.close),
        }
        for name, hook in hooks.items():
            self._replaced[name] = wrapper.__dict__.get(name, _ABSENT)
            setattr(wrapper, name, hook)
        executewrappers.add(wrapper, self._statement)

    def uninstall(self) -> None:
        wrapper = self.wrapper
        executewrappers.remove(wrapper, self._statement)
        for name, previous in self._replaced.items():
            if previous is _ABSENT:
                wrapper.__dict__.pop(name, None)
            else:
                setattr(wrapper, name, previous)
        wrapper.dec_thread_sharing()

    def joinable(self) -> bool:
        """Routing needs a test transaction to join; without one, threads keep their own."""
        return not self.closed and inventory.in_test_atomic(self.wrapper)

    # --- units ------------------------------------------------------------------------------

    def _enter_unit(self, unit: str) -> None:
        """Take the lock for a worker's unit, if the worker's test is still the running one."""
        self._admit()
        self.lock.acquire(unit)
        if self.closed:
            self.lock.release()
            self._admit()

    def _leave_unit(self) -> None:
        """Release the lock; at the end of a worker's outermost unit, its savepoints too."""
        try:
            if self.lock.depth == 1 and self._unreleased is not None:
                sid, self._unreleased = self._unreleased, None
                with suppress(DatabaseError):
                    self._release_savepoint(sid)
        finally:
            self.lock.release()

    def _admit(self) -> None:
        if self.closed or not self.belongs():
            raise RouteEndedError(
                f"arunner refused an ORM call on {self.wrapper.alias!r} from thread "
                f"{threading.current_thread().name!r}: it belongs to a test that has ended. "
                "Work a test starts (threads, executor jobs) must finish before the test does; "
                "its calls never run in a later test's transaction."
            )

    def _holding(self, make: Callable[[Any], Any]) -> Callable[[Any], HeldCursor]:
        def make_cursor(cursor: Any) -> HeldCursor:
            if threading.get_ident() == self.home:
                self.lock.acquire("a cursor of the test's thread")
            else:
                self._enter_unit("a cursor")
            try:
                return HeldCursor(make(cursor), self._leave_unit)
            except BaseException:
                self._leave_unit()
                raise

        return make_cursor

    def _closing(self, close: Callable[[], None]) -> Callable[[], None]:
        def close_unless_worker() -> None:
            """A worker closing "its" connection (a common end-of-thread habit) must not close
            the test's: for the worker it is a no-op, as the routed connection is not its."""
            if threading.get_ident() == self.home:
                close()

        return close_unless_worker

    def _statement(self, execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        if threading.get_ident() == self.home:
            return execute(sql, params, many, context)  # its cursor holds the lock
        self._enter_unit("a statement")
        try:
            if self.atomic_depth or not self.wrapper.features.uses_savepoints:
                return execute(sql, params, many, context)
            sid = self._savepoint()
            try:
                return execute(sql, params, many, context)
            except BaseException:
                self._rollback_to(sid)
                raise
        finally:
            self._leave_unit()

    def enter_atomic(self, atomic: Any, enter: Callable[[Any], None]) -> None:
        if threading.get_ident() == self.home:
            self.lock.acquire("entering an atomic block of the test's thread")
            try:
                enter(atomic)
            finally:
                self.lock.release()
            return
        self._enter_unit("an atomic block")
        self.atomic_depth += 1
        try:
            if self.atomic_depth == 1 and not atomic.savepoint:
                self._outer = self._open_outer()
            enter(atomic)
        except BaseException:
            self._leave_atomic(failed=True)
            raise

    def exit_atomic(self, atomic: Any, exit: Callable[..., Any], exc_info: Any) -> Any:
        if threading.get_ident() == self.home:
            self.lock.acquire("leaving an atomic block of the test's thread")
            try:
                return exit(atomic, *exc_info)
            finally:
                self.lock.release()
        if not (self.lock.held_by_me() and self.atomic_depth):
            return exit(atomic, *exc_info)
        failed = exc_info[0] is not None
        try:
            return exit(atomic, *exc_info)
        except BaseException:
            failed = True
            raise
        finally:
            self._leave_atomic(failed)

    def in_autocommit(self) -> bool:
        """True for a worker outside its own atomic block: it would be in autocommit on a
        connection of its own, where a failed save marks nothing for rollback."""
        if threading.get_ident() == self.home:
            return False
        return not (self.lock.held_by_me() and self.atomic_depth)

    # --- savepoints ---------------------------------------------------------------------------

    def _savepoint(self) -> str:
        """Open a savepoint for the lock's owner, released when its outermost unit ends."""
        sid = f"arunner_{next(_savepoint_numbers)}"
        self._raw(self.wrapper.ops.savepoint_create_sql(sid))
        if self._unreleased is None:
            self._unreleased = sid
        return sid

    def _open_outer(self) -> tuple[str, bool, Any] | None:
        """A savepoint around a worker's outermost ``atomic(savepoint=False)``, which has none
        of its own: on its own connection it would be a transaction that rolls back alone."""
        wrapper = self.wrapper
        if not wrapper.features.uses_savepoints:
            return None
        return self._savepoint(), wrapper.needs_rollback, wrapper.rollback_exc

    def _leave_atomic(self, failed: bool) -> None:
        self.atomic_depth -= 1
        try:
            if not self.atomic_depth and self._outer is not None:
                (sid, needed_rollback, rollback_exc), self._outer = self._outer, None
                wrapper = self.wrapper
                if failed or wrapper.needs_rollback:
                    self._rollback_to(sid)
                    wrapper.needs_rollback, wrapper.rollback_exc = needed_rollback, rollback_exc
        finally:
            self._leave_unit()

    def _rollback_to(self, sid: str) -> None:
        """Undo a worker's failed unit; a failure here must not hide the original error."""
        with suppress(DatabaseError):
            self._raw(self.wrapper.ops.savepoint_rollback_sql(sid))

    def _release_savepoint(self, sid: str) -> None:
        if self.wrapper.features.can_release_savepoints:
            self._raw(self.wrapper.ops.savepoint_commit_sql(sid))

    def _raw(self, sql: str) -> None:
        """Run on the DB-API connection: not logged as a test query, not seen by wrappers."""
        with self.wrapper.wrap_database_errors:
            cursor = self.wrapper.connection.cursor()
            try:
                cursor.execute(sql)
            finally:
                cursor.close()
