"""The thread guard's vocabulary: its errors, one test's ``Scope``, the per-class ``Choice`` of
mode, and the threads it charges to no test.

``choose`` decides, once per class, whether worker threads' statements are refused
("strict"), routed into the test ("route") or left alone ("open"); the class attribute
``arunner_db_threads`` overrides the run's mode. Threads an earlier test left running
(``disown``) are refused but charged to no later test; threads that outlive the run
(``refuse_strays``) never reach the real database. The guard that applies all this is
``threadguard``.
"""

from __future__ import annotations

import threading
import weakref
from typing import TYPE_CHECKING, Any, NamedTuple

from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.utils import DatabaseError

from arunner.core.options import DB_THREAD_MODES
from arunner.guards.route import RouteSession

__unittest = True

if TYPE_CHECKING:
    pass


#: The class attribute that picks a test class's mode: "strict" or "route".
CLASS_ATTRIBUTE = "arunner_db_threads"


class EscapedQueryError(DatabaseError):
    """A worker thread ran SQL outside the test's transaction."""

    #: Named after the public module users import it from, in tracebacks too.
    __module__ = "arunner.escapes"


class LeakedWriteError(EscapedQueryError):
    """A write went through a connection other than the test's own, outside its transaction."""

    __module__ = "arunner.escapes"


_strays: weakref.WeakSet[threading.Thread] = weakref.WeakSet()


_orphans: weakref.WeakSet[threading.Thread] = weakref.WeakSet()


def disown(threads: list[threading.Thread]) -> None:
    """Threads an earlier test left running: still refused, but not charged to later tests."""
    _orphans.update(threads)


def disowned(thread: threading.Thread) -> bool:
    """Whether an earlier test left ``thread`` running (``disown``)."""
    return thread in _orphans


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

    ensure_connection.arunner_strays = True  # type: ignore[attr-defined]  # a mark on the wrapper: installed once
    BaseDatabaseWrapper.ensure_connection = ensure_connection


class Scope:
    """One test as the guard sees it: its mode, what it was refused, its route session."""

    __slots__ = (
        "_test_id",
        "at_stake",
        "earlier",
        "expected",
        "failures",
        "mode",
        "route",
        "test",
    )

    def __init__(
        self,
        test: Any,
        mode: str,
        earlier: frozenset[threading.Thread] = frozenset(),
        at_stake: bool = True,
    ) -> None:
        #: The test (None between tests); its id is asked for only when a thread is refused.
        self.test = test
        self._test_id: str | None = None
        self.mode = mode
        #: Whether the test's isolation is at stake (``Choice.at_stake``): read by the drain.
        self.at_stake = at_stake
        #: Non-pool threads started before this test: their calls belong to earlier tests.
        self.earlier = earlier
        self.failures: list[Exception] = []
        self.expected: list[str] | None = None
        self.route: RouteSession | None = None

    def __reduce__(self) -> Any:
        """Refused, so Django's check of a failing subtest's test for ``--parallel`` leaves
        the scope out instead of pickling the test it holds, which holds the scope."""
        raise TypeError("arunner's per-test state stays in the process that runs the test")

    @property
    def test_id(self) -> str | None:
        if self._test_id is None and self.test is not None:
            self._test_id = self.test.id()
        return self._test_id

    @property
    def open(self) -> bool:
        """True when threads may commit beside the test (``TransactionTestCase``)."""
        return self.mode == "open"


#: The guard's scope between tests: no test, nothing charged (``_charge`` needs a test id).
#: Statements of work an earlier test left running are refused there, except under
#: ``--compat``, where they run as under ``DiscoverRunner``.
BETWEEN_TESTS = Scope(None, "strict")


BETWEEN_TESTS_COMPAT = Scope(None, "open")


class Choice(NamedTuple):
    """What the guard does for the tests of one class: decided once per class."""

    #: "strict", "route", or "open" (nothing refused, nothing routed).
    mode: str
    #: The error of a bad class attribute, which fails the test.
    problem: str | None
    #: Whether the test's isolation is at stake: it holds a transaction that is rolled back,
    #: and ``--compat`` is off. Only then does work it leaves running fail it.
    at_stake: bool


def choose(test_class: type, holds_transaction: bool, default: str, compat: bool = False) -> Choice:
    """The guard's choice for the tests of ``test_class``.

    A test that holds no rolled-back transaction has nothing a worker thread could escape
    from: its mode is "open". Otherwise the class attribute wins, then the run's mode;
    ``--compat`` turns the run's strict mode off (a class can still ask for it).
    """
    at_stake = holds_transaction and not compat
    if not holds_transaction:
        return Choice("open", None, at_stake)
    run_mode = "open" if compat and default == "strict" else default
    chosen = getattr(test_class, CLASS_ATTRIBUTE, None)
    if chosen is None:
        return Choice(run_mode, None, at_stake)
    if chosen not in DB_THREAD_MODES:
        return Choice(
            run_mode,
            f"{test_class.__qualname__}.{CLASS_ATTRIBUTE} = {chosen!r} is not one of "
            f"{', '.join(DB_THREAD_MODES)}; the test ran in the run's mode ({default}"
            f"{', off under --compat' if run_mode == 'open' else ''}).",
            at_stake,
        )
    return Choice(chosen, None, at_stake)
