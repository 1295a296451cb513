"""Route mode: worker threads' ORM calls run on the test's own connection, in its transaction.

While a route-mode test runs, ``connections[alias]`` on any thread but the test's resolves to
the test's own wrapper (shared with ``inc_thread_sharing``, as ``LiveServerTestCase`` shares
it), provided that wrapper holds a test's rolled-back atomic to join. The threads then take
turns on it under a ``UnitLock``; what one thread does in a unit, no other thread interleaves:

* a cursor, from creation to ``close``: each statement, an unfinished ``.iterator()``, a
  MariaDB unbuffered cursor (the test's thread holds its cursors the same way);
* a worker's outermost ``atomic()`` block: the wrapper's ``atomic_blocks``, ``savepoint_ids``
  and ``needs_rollback`` are one stack for all threads, so a block must not interleave with
  another thread's; the test's thread takes the lock only to enter or leave its blocks, so
  that a worker may run inside them (as it could on a separate connection);
* a worker's call outside its own atomic block also gets a savepoint of its own, so a failing
  statement is undone alone, as in autocommit, instead of poisoning the test's transaction.

Routing belongs to one test: a call that belongs to a test that has ended (``belongs``
decides, see ``threadguard.ThreadGuard.origin``) is refused, and never lands in the next test.
A worker's ``connection.close()`` leaves the test's connection open, and a failed save
outside its own atomic block does not mark the test's transaction for rollback.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager, nullcontext
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connections
from django.db.backends.base.base import BaseDatabaseWrapper

from arunner.core import inventory
from arunner.guards.routedconnection import RoutedConnection
from arunner.guards.unitlock import ConnectionWaitTimeout

__unittest = True


_active: RouteSession | None = None


class _RoutingStorage:
    """Stands in for ``connections``' thread-local storage while a route-mode test runs."""

    def __init__(self, storage: Any, session: RouteSession) -> None:
        object.__setattr__(self, "_storage", storage)
        object.__setattr__(self, "_session", session)

    def __getattr__(self, alias: str) -> Any:
        if threading.get_ident() != self._session.home:
            wrapper = self._session.lookup(alias)
            if wrapper is not None:
                return wrapper
        return getattr(self._storage, alias)

    def __setattr__(self, alias: str, value: Any) -> None:
        setattr(self._storage, alias, value)

    def __delattr__(self, alias: str) -> None:
        delattr(self._storage, alias)


class RouteSession:
    """Routing for one test: installed when it begins, removed when it ends."""

    def __init__(self, aliases: Iterable[str], home: int, belongs: Callable[[], bool]) -> None:
        self.home = home
        self.belongs = belongs
        self.routed = {
            alias: RoutedConnection(connections[alias], home, belongs) for alias in sorted(aliases)
        }
        self._storage: Any = None
        self._patches: inventory.TransactionPatches | None = None

    @property
    def longest_wait(self) -> float:
        """The longest any thread waited for one of the test's connections, in seconds."""
        return max((routed.lock.longest_wait for routed in self.routed.values()), default=0.0)

    def begin(self) -> None:
        global _active
        for routed in self.routed.values():
            routed.install()
        self._storage = inventory.connection_storage(connections)
        inventory.set_connection_storage(connections, _RoutingStorage(self._storage, self))
        self._patches = inventory.TransactionPatches(
            _enter_atomic, _exit_atomic, _mark_for_rollback_on_error
        )
        _active = self

    def end(self) -> list[str]:
        """Stop routing once in-flight units are done; return what could not be waited for."""
        global _active
        problems = []
        locked = []
        for routed in self.routed.values():
            routed.closed = True
            try:
                routed.lock.acquire("the end of the test")
            except ConnectionWaitTimeout as exc:
                problems.append(f"A worker thread still held the test's connection:\n{exc}")
            else:
                locked.append(routed)
        _active = None
        if self._patches is not None:
            self._patches.undo()
        inventory.set_connection_storage(connections, self._storage)
        for routed in self.routed.values():
            routed.uninstall()
        for routed in locked:
            routed.lock.release()
        return problems

    def lookup(self, alias: str) -> BaseDatabaseWrapper | None:
        """The test's wrapper for a worker thread's ``connections[alias]``, or None."""
        routed = self.routed.get(alias)
        if routed is None or not routed.joinable() or not self.belongs():
            return None
        own = getattr(self._storage, alias, None)
        if own is not None and own.in_atomic_block:
            return None  # inside a block on its own connection: it must leave it there
        return routed.wrapper

    def routed_for(self, using: str | None) -> RoutedConnection | None:
        """The routed connection the current thread reaches as ``using``, if it is one."""
        routed = self.routed.get(using or DEFAULT_DB_ALIAS)
        if routed is None or connections[using or DEFAULT_DB_ALIAS] is not routed.wrapper:
            return None
        return routed


def _enter_atomic(atomic: Any) -> None:
    session = _active
    routed = session.routed_for(atomic.using) if session is not None else None
    if routed is None:
        inventory.ATOMIC_ENTER(atomic)
    else:
        routed.enter_atomic(atomic, inventory.ATOMIC_ENTER)


def _exit_atomic(atomic: Any, *exc_info: Any) -> Any:
    session = _active
    routed = session.routed_for(atomic.using) if session is not None else None
    if routed is None:
        return inventory.ATOMIC_EXIT(atomic, *exc_info)
    return routed.exit_atomic(atomic, inventory.ATOMIC_EXIT, exc_info)


def _mark_for_rollback_on_error(using: str | None = None) -> AbstractContextManager[Any]:
    session = _active
    routed = session.routed_for(using) if session is not None else None
    if routed is not None and routed.in_autocommit():
        return nullcontext()
    marker: AbstractContextManager[Any] = inventory.MARK_FOR_ROLLBACK_ON_ERROR(using)
    return marker


def active_session() -> RouteSession | None:
    """The route session of the running test, if it runs in route mode."""
    return _active
