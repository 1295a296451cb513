"""Every private name of Django, asgiref, unittest or asyncio that arunner touches.

Private internals break between releases (two published fixes for async Django tests died
when asgiref 3.13 removed ``Local._lock_storage``). Keeping them here, each behind one small
accessor with a canary test in ``tests/test_inventory.py``, makes such a break fail loudly in
one place instead of deep inside a test run.
"""

from __future__ import annotations

import asyncio.events
import contextvars
import threading
import unittest
from collections.abc import Callable
from typing import Any, NamedTuple

from asgiref.local import _rehome
from asgiref.local import _Storage as _LocalStorage
from asgiref.sync import AsyncToSync
from django.db import connection, connections, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.test import TestCase, TransactionTestCase
from django.test import runner as django_runner

#: ``asyncio.events`` exports these two in ``__all__`` but documents them as internal. The
#: inline executor detaches the running loop around a sync call with them, so Django's
#: ``async_unsafe`` check and nested ``async_to_sync`` see a plain sync thread.
get_running_loop_or_none: Callable[[], asyncio.AbstractEventLoop | None] = (
    asyncio.events._get_running_loop
)
set_running_loop: Callable[[asyncio.AbstractEventLoop | None], None] = (
    asyncio.events._set_running_loop
)

#: asgiref falls back to this map when a thread-sensitive call comes from a task started in a
#: fresh ``contextvars.Context`` (Channels' ``ApplicationCommunicator``). Registering the
#: runner's loop here routes those calls to the test's executor too.
loop_thread_executors: dict[Any, Any] = AsyncToSync.loop_thread_executors

#: The coroutine asgiref's ``AsyncToSync.__call__`` queues on a sync thread's "main event
#: loop" (``main_event_loop.create_task`` through ``call_soon_threadsafe``) is one of its
#: ``main_wrap``. The loop refuses exactly that request from its own thread, where it would
#: wait forever, and accepts every other.
_MAIN_WRAP_CODE = AsyncToSync.main_wrap.__code__


def is_async_to_sync_call(awaitable: Any) -> bool:
    """True when ``awaitable`` is the coroutine an ``AsyncToSync`` call queues on a loop."""
    return getattr(awaitable, "cr_code", None) is _MAIN_WRAP_CODE


def foreign_local_storage(context: contextvars.Context) -> list[tuple[Any, Any]]:
    """The ``asgiref.local`` storage in ``context`` that belongs to another thread
    (``_Storage.thread_id``), each with its variable.

    asgiref ties ``Local`` data to the thread that set it and re-homes it whenever it moves a
    context to another thread itself. With ``--executor hop`` a coroutine test's session
    moves its context between the test's thread (sync phases) and the loop's (coroutine
    phases), so it re-homes the same way, once per switch of thread (not per call).
    """
    here = threading.get_ident()
    return [
        (var, value)
        for var, value in context.items()
        if type(value) is _LocalStorage and value.thread_id != here
    ]


def rehome_local_storage(var: contextvars.ContextVar[Any], storage: Any) -> None:
    """Give this thread the data of another thread's ``Local`` storage (``_rehome``)."""
    var.set(_rehome(storage))


#: unittest's per-phase hooks. ``TestCase.run`` calls them in order; arunner replaces them on
#: the test instance so that every phase of a coroutine test runs inside one session.
UNITTEST_PHASES = ("_callSetUp", "_callTestMethod", "_callTearDown", "_callCleanup")

#: ``IsolatedAsyncioTestCase`` builds its own loop in these; arunner replaces them with no-ops
#: because its loop is the runner's.
ISOLATED_ASYNCIO_SETUP = ("_setupAsyncioRunner", "_tearDownAsyncioRunner")


#: ``TestSuite._handleClassSetUp``, the only place a suite runs ``setUpClass``; called once per
#: test, so taken as it is rather than through a function of arunner's.
handle_class_setup: Callable[[unittest.TestSuite, Any, Any], None] = (
    unittest.TestSuite._handleClassSetUp  # type: ignore[attr-defined]  # private unittest name, listed here
)

#: ``TestSuite.run`` runs each test as ``test(result)``, and it and these helpers of its know
#: the test's class (and so its module) as ``test.__class__``: ``--reruns`` stands an object
#: in for each test (``suite.reruns.Rerunning``) that answers ``__class__`` with the test's
#: class, so class and module fixtures run once, around all of a test's runs.
SUITE_FIXTURES_BY_CLASS = ("_tearDownPreviousClass", "_handleModuleFixture", "_handleClassSetUp")


def mark_testcase_atomic(atomic: Any) -> None:
    """Flag an atomic as a test's outer block, as ``TestCase._enter_atomics`` does.

    Django itself reads ``_from_testcase`` to tell test atomics from user ones (durable
    checks); arunner reads it to know a connection is held by a test.
    """
    atomic._from_testcase = True


def in_test_atomic(connection: BaseDatabaseWrapper) -> bool:
    """True when the connection's outermost atomic belongs to a test."""
    blocks = connection.atomic_blocks
    return bool(blocks) and getattr(blocks[0], "_from_testcase", False)


def thread_target(thread: Any) -> Any:
    """The callable a ``threading.Thread`` was started with (``Thread._target``)."""
    return getattr(thread, "_target", None)


def is_shielded(task: Any) -> bool:
    """True when ``asyncio.shield`` protects this task (its ``_inner_done_callback``).

    The drain does not cancel shielded work: the test's author asked for it to survive
    cancellation, so it is reported as work that could not be stopped instead.
    """
    callbacks = getattr(task, "_callbacks", None) or ()
    return any(getattr(entry[0], "__qualname__", "").startswith("shield.") for entry in callbacks)


def test_part(test: unittest.TestCase) -> Any:
    """``TestCase._outcome.testPartExecutor(test)`` while the test runs, else None: a context
    manager that records an exception raised inside it against the test, as unittest records
    a failing cleanup's, and lets the run go on."""
    outcome = getattr(test, "_outcome", None)
    return None if outcome is None else outcome.testPartExecutor(test)


def cleanup_count(test: unittest.TestCase) -> int:
    """How many cleanups a test has registered (``TestCase._cleanups``)."""
    return len(test._cleanups)  # type: ignore[attr-defined]  # private unittest name, listed here


def connection_storage(handler: Any) -> Any:
    """``ConnectionHandler._connections``: the thread-local storage behind ``connections[alias]``.

    Route mode stands a routing object in for it, so a worker thread's lookup can resolve to
    the test's own wrapper without touching that thread's storage.
    """
    return handler._connections


def set_connection_storage(handler: Any, storage: Any) -> None:
    handler._connections = storage


#: ``django.db.transaction.Atomic`` calls itself "a private API". Route mode wraps its
#: ``__enter__`` / ``__exit__`` so that a worker's atomic block on the test's connection is
#: one unit, and so that its outermost block behaves as a transaction of its own.
ATOMIC_ENTER: Callable[..., Any] = transaction.Atomic.__enter__
ATOMIC_EXIT: Callable[..., Any] = transaction.Atomic.__exit__

#: ``transaction.mark_for_rollback_on_error``, "an internal low-level utility" that
#: ``Model.save``, ``QuerySet.update`` and deletions look up on the module at each call. On a
#: routed worker outside any atomic block it must not mark the test's transaction for
#: rollback: on a connection of its own the worker would be in autocommit.
MARK_FOR_ROLLBACK_ON_ERROR: Callable[..., Any] = transaction.mark_for_rollback_on_error


class TransactionPatches:
    """The route-mode replacements of the three names above, until ``undo``."""

    def __init__(self, enter: Callable[..., Any], exit: Callable[..., Any], mark: Any) -> None:
        transaction.Atomic.__enter__ = enter
        transaction.Atomic.__exit__ = exit
        transaction.mark_for_rollback_on_error = mark

    def undo(self) -> None:
        transaction.Atomic.__enter__ = ATOMIC_ENTER
        transaction.Atomic.__exit__ = ATOMIC_EXIT
        transaction.mark_for_rollback_on_error = MARK_FOR_ROLLBACK_ON_ERROR


def drop_asyncio_test_context(test: unittest.IsolatedAsyncioTestCase) -> None:
    """Forget ``IsolatedAsyncioTestCase._asyncioTestContext`` (unpicklable; unused by arunner,
    whose session runs every phase in a context of its own)."""
    test._asyncioTestContext = None  # type: ignore[attr-defined]  # private unittest name, listed here


def worker_number() -> int:
    """This ``--parallel`` worker's number (``django.test.runner._worker_id``), which names
    its database clones; a replacement worker must take the same one."""
    number: int = django_runner._worker_id
    return number


def error_holder(description: str) -> Any:
    """``unittest.suite._ErrorHolder``: the stand-in test a class- or module-level problem is
    reported against, as unittest and Django's ``ParallelTestSuite`` report it."""
    return unittest.suite._ErrorHolder(description)  # type: ignore[attr-defined]  # private unittest name, listed here


def test_method_name(test: unittest.TestCase) -> str:
    """The name of the method a test instance runs (``TestCase._testMethodName``)."""
    return test._testMethodName


#: ``unittest.loader._FailedTest``: the stand-in test unittest's loader makes for a module that
#: does not import (its id is ``unittest.loader._FailedTest.<module>``).
FAILED_TEST: type[unittest.TestCase] = unittest.loader._FailedTest  # type: ignore[attr-defined]  # private unittest name, listed here
FAILED_TEST_PREFIX = f"{FAILED_TEST.__module__}.{FAILED_TEST.__qualname__}."


def sync_caller_executor() -> Any:
    """The executor of a sync caller up the stack (``AsyncToSync.executors.current``): where
    asgiref's ``SyncToAsync`` sends a thread-sensitive call first, when there is one."""
    return getattr(AsyncToSync.executors, "current", None)


#: The arguments Django's ``ParallelTestSuite.run`` gives each worker's initializer
#: (``_init_worker``) after the shared counter, read off the suite by name.
#: ``AsyncParallelTestSuite.run`` re-implements that method and must pass the same.
PARALLEL_INITARGS = (
    "initial_settings",
    "serialized_contents",
    "process_setup",
    "process_setup_args",
    "debug_mode",
    "used_aliases",
)


def parallel_initargs(suite: Any) -> list[Any]:
    """``PARALLEL_INITARGS`` of a ``ParallelTestSuite``, as Django's ``run`` passes them
    (``process_setup`` as its plain function, so that it pickles)."""
    return [
        getattr(suite, name).__func__ if name == "process_setup" else getattr(suite, name)
        for name in PARALLEL_INITARGS
    ]


#: Where Django applies a connection's execute wrappers, as
#: ``reversed(connection.execute_wrappers)``: ``executewrappers`` adds arunner's to what that
#: ``reversed`` yields, outside the list's items (a behavioural canary guards it).
EXECUTE_WRAPPERS_APPLIED = "django.db.backends.utils.CursorWrapper._execute_with_wrappers"


# --- What arunner replaces ----------------------------------------------------------------


class Replaced(NamedTuple):
    """An attribute of a library (or of every instance of one of its classes) that arunner
    replaces, who does it, and until when."""

    owner: Any
    name: str
    by: str
    until: str


#: Class- and module-wide replacements. Each is put back by the code that made it; the last
#: one stays for the process on purpose, and only once a thread outlives the run.
REPLACED_GLOBALLY: tuple[Replaced, ...] = (
    Replaced(threading.Thread, "start", "drain.ThreadWatch: notes threads a test starts", "run"),
    Replaced(
        unittest.TestCase, "doCleanups", "runcontext: ends each test after its cleanups", "run"
    ),
    Replaced(
        BaseDatabaseWrapper, "connect", "isolation: refuses a database with no test copy", "run"
    ),
    Replaced(
        BaseDatabaseWrapper,
        "close_if_unusable_or_obsolete",
        "isolation: keeps the connections that hold a test's transaction",
        "run",
    ),
    Replaced(transaction.Atomic, "__enter__", "route: a worker's atomic block is one unit", "run"),
    Replaced(transaction.Atomic, "__exit__", "route: as __enter__", "run"),
    Replaced(
        transaction,
        "mark_for_rollback_on_error",
        "route: a routed worker outside an atomic block",
        "run",
    ),
    Replaced(
        BaseDatabaseWrapper,
        "ensure_connection",
        "threadscope.refuse_strays: threads that outlive the run never reach the real database",
        "process",
    ),
)

#: Attributes replaced on one instance (a test, a connection, the connection handler) or on a
#: test's own class, for the length of that test (or run), and taken off at its end.
REPLACED_PER_INSTANCE: tuple[Replaced, ...] = (
    *(Replaced(unittest.TestCase, name, "testcase.PhaseHooks", "test") for name in UNITTEST_PHASES),
    *(
        Replaced(unittest.IsolatedAsyncioTestCase, name, "testcase.PhaseHooks", "test")
        for name in ISOLATED_ASYNCIO_SETUP
    ),
    Replaced(
        unittest.IsolatedAsyncioTestCase,
        "addAsyncCleanup",
        "testcase.PhaseHooks: given to unittest.TestCase coroutine tests, which lack it",
        "test",
    ),
    Replaced(unittest.TestCase, "run", "runcontext: arms the test's time limit", "test"),
    Replaced(
        TransactionTestCase,
        "assertNumQueries",
        "queryassertions: counts on the test's thread",
        "test",
    ),
    Replaced(
        TestCase,
        "captureOnCommitCallbacks",
        "queryassertions: captures on the test's thread",
        "test",
    ),
    Replaced(
        TestCase,
        "setUpTestData",
        "runcontext: an async setUpTestData of the user's class, awaited on the class's loop",
        "run",
    ),
    Replaced(BaseDatabaseWrapper, "close", "isolation: refused inside a test's transaction", "run"),
    Replaced(connections, "_connections", "route: lookups from worker threads", "test"),
    Replaced(
        connection,
        "execute_wrappers",
        "executewrappers: a list that keeps arunner's wrappers out of the project's sight",
        "run",
    ),
    *(
        Replaced(
            BaseDatabaseWrapper,
            name,
            "routedconnection: worker threads share the test's connection",
            "test",
        )
        for name in ("make_cursor", "make_debug_cursor", "close")
    ),
)

#: The originals of those undone at the end of a run, taken when arunner is imported.
_ORIGINALS = {
    (item.owner, item.name): getattr(item.owner, item.name)
    for item in REPLACED_GLOBALLY
    if item.until == "run"
}


def replaced_now() -> list[str]:
    """The class- and module-wide replacements undone at the end of a run that are in place
    now, as ``owner.name``: none, between runs."""
    return [
        f"{getattr(owner, '__qualname__', getattr(owner, '__name__', owner))}.{name}"
        for (owner, name), original in _ORIGINALS.items()
        if getattr(owner, name) is not original
    ]
