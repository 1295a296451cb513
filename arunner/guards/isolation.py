"""What keeps a test's writes inside its transaction, and the real database out of reach.

* Coroutine tests of plain unittest classes get the rollback a ``TestCase`` gives.
* ``close_old_connections`` (run by ``ASGIHandler`` on ``request_started`` and by Channels'
  ``database_sync_to_async``) would close the test's connection inside its atomic; arunner
  makes it leave test-held connections alone (Django tickets #30448 / #35618).
* An explicit ``connection.close()`` inside a test's atomic is refused with a clear error.
* A connection to an alias that has no test database in this run is refused, on any thread.

The last two are refusals, each only where something is at stake: a close only inside a
test's transaction (elsewhere it ends nothing but a connection), a connection only to a real
database (an alias without one, as in a project without ``DATABASES``, has Django's dummy
backend, which never connects: Django's own ``ImproperlyConfigured`` says so). ``--compat``
leaves both out, and the suite then opens no rollback for unittest coroutine tests either, as
under ``DiscoverRunner``; what keeps a test's connection open (``close_old_connections``)
stays, as it only fixes what would break.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connections, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.utils import DatabaseError

from arunner.core import inventory
from arunner.guards import threadguard, transactionend

__unittest = True

#: The backend Django gives an alias with no database (``DATABASES`` empty, or no ``ENGINE``).
_NO_DATABASE = "django.db.backends.dummy"


class TestConnectionClosedError(DatabaseError):
    """Test code closed the connection that holds the test's transaction."""


class NoTestDatabaseError(DatabaseError):
    """Code under test tried to reach a database alias that has no test database."""


def with_database(aliases: Iterable[str]) -> frozenset[str]:
    """The aliases that have a database to roll back: not those Django gives its dummy
    backend (a project without ``DATABASES``), where nothing is at stake and opening a
    transaction would fail with ``ImproperlyConfigured``."""
    return frozenset(
        alias for alias in aliases if connections.settings[alias].get("ENGINE") != _NO_DATABASE
    )


def enter_atomics(aliases: Iterable[str]) -> Callable[[], None]:
    """Open one rolled-back atomic per alias, as ``TestCase`` does; return the rollback."""
    opened = []
    try:
        for alias in sorted(aliases):
            atomic = transaction.atomic(using=alias)
            inventory.mark_testcase_atomic(atomic)
            atomic.__enter__()
            opened.append((alias, atomic))
    except BaseException:
        _roll_back(opened)
        raise
    return lambda: _roll_back(opened)


def _roll_back(opened: list[tuple[str, Any]]) -> None:
    """Roll back; then fail the running test if it ended a transaction behind Django's back."""
    guard = threadguard.ThreadGuard.active
    test = guard.scope.test if guard is not None else None
    ended: list[transactionend.TransactionEndedError] = []
    for alias, atomic in reversed(opened):
        if test is not None:
            try:
                transactionend.check(test, connections[alias])
            except transactionend.TransactionEndedError as exc:
                ended.append(exc)
        transaction.set_rollback(True, using=alias)
        atomic.__exit__(None, None, None)
    if ended:
        raise ended[0]


def _keep_test_connections(
    original: Callable[[BaseDatabaseWrapper], None],
) -> Callable[[BaseDatabaseWrapper], None]:
    def close_if_unusable_or_obsolete(self: BaseDatabaseWrapper) -> None:
        if inventory.in_test_atomic(self):
            return
        original(self)

    close_if_unusable_or_obsolete.arunner_original = original  # type: ignore[attr-defined]  # a mark on the wrapper, to find what it wraps
    return close_if_unusable_or_obsolete


def _refuse_close_in_test(connection: BaseDatabaseWrapper) -> Callable[[], None]:
    original = connection.close

    def close() -> None:
        if inventory.in_test_atomic(connection):
            raise TestConnectionClosedError(
                f"connection.close() on {connection.alias!r} inside a test's transaction would "
                "end the test's isolation (Django marks the transaction broken and every later "
                "query fails). Remove the close() call; arunner keeps the test's connection "
                "open and closes worker-thread connections after each test."
            )
        original()

    close.arunner_original = original  # type: ignore[attr-defined]  # a mark on the wrapper, to find what it wraps
    return close


class ConnectionProtection:
    """Installs the connection guards for one run of a suite, and removes them afterwards.

    ``refuse``: install the two refusals (off under ``--compat``).
    """

    def __init__(self, test_aliases: frozenset[str], refuse: bool = True) -> None:
        self.test_aliases = test_aliases
        self.refuse = refuse
        self._closers: list[BaseDatabaseWrapper] = []

    def install(self) -> None:
        BaseDatabaseWrapper.close_if_unusable_or_obsolete = _keep_test_connections(
            BaseDatabaseWrapper.close_if_unusable_or_obsolete
        )
        if not self.refuse:
            return
        for alias in connections:
            connection = connections[alias]
            connection.close = _refuse_close_in_test(connection)
            self._closers.append(connection)
        BaseDatabaseWrapper.connect = self._refuse_non_test(BaseDatabaseWrapper.connect)

    def uninstall(self) -> None:
        original = getattr(BaseDatabaseWrapper.connect, "arunner_original", None)
        if original is not None:
            BaseDatabaseWrapper.connect = original
        for connection in self._closers:
            if hasattr(connection.close, "arunner_original"):
                del connection.close
        self._closers.clear()
        patched = BaseDatabaseWrapper.close_if_unusable_or_obsolete
        original = getattr(patched, "arunner_original", None)
        if original is not None:
            BaseDatabaseWrapper.close_if_unusable_or_obsolete = original

    def _allowed(self, alias: str) -> bool:
        if alias in self.test_aliases or alias not in connections.settings:
            return True
        mirror = connections.settings[alias].get("TEST", {}).get("MIRROR")
        return mirror is not None and mirror in self.test_aliases

    def _refuse_non_test(
        self, original: Callable[[BaseDatabaseWrapper], None]
    ) -> Callable[[BaseDatabaseWrapper], None]:
        """Check before connecting: SQLite creates the real database file on connect.

        ``connect`` rather than ``ensure_connection``, which every query goes through.
        """
        protection = self

        def connect(connection: BaseDatabaseWrapper) -> None:
            if not protection._allowed(connection.alias):
                raise NoTestDatabaseError(protection._refusal(connection))
            original(connection)

        connect.arunner_original = original  # type: ignore[attr-defined]  # a mark on the wrapper, to find what it wraps
        return connect

    def _refusal(self, connection: BaseDatabaseWrapper) -> str:
        name = connection.settings_dict.get("NAME")
        thread = threading.current_thread()
        where = "" if thread is threading.main_thread() else f" (from thread {thread.name!r})"
        return (
            f"arunner refused a connection to database alias {connection.alias!r}{where}: this "
            f"run set up no test database for it, so it would reach the real database "
            f"{name!r}. Add {connection.alias!r} to the test class's `databases` attribute "
            f"(unittest classes default to {{{DEFAULT_DB_ALIAS!r}}})."
        )
