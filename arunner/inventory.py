"""Every private name of Django, asgiref, unittest or asyncio that arunner touches.

Private internals break between releases (design notes, section 1: two published fixes died
when asgiref 3.13 removed ``Local._lock_storage``). Keeping them here, each behind one small
accessor with a canary test in ``tests/test_inventory.py``, makes such a break fail loudly in
one place instead of deep inside a test run.
"""

from __future__ import annotations

import asyncio.events
import contextvars
import functools
import operator
import os
import sys
import threading
import unittest
from collections.abc import Callable
from typing import Any

from asgiref.local import _rehome
from asgiref.local import _Storage as _LocalStorage
from asgiref.sync import AsyncToSync, SyncToAsync
from django.db import transaction
from django.db.backends.base.base import BaseDatabaseWrapper
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

#: asgiref's own ``SyncToAsync.__call__``. For a call the inline executor serves, it still
#: prepares a trip to another thread; ``inlinecalls`` stands in for it during a run and hands
#: every other call to whatever ``__call__`` was in place before.
SYNC_TO_ASYNC_CALL: Callable[..., Any] = SyncToAsync.__call__


def sync_to_async_call() -> Callable[..., Any]:
    return SyncToAsync.__call__  # type: ignore[no-any-return]


def set_sync_to_async_call(call: Callable[..., Any]) -> None:
    SyncToAsync.__call__ = call  # type: ignore[method-assign]


#: The context variable behind ``AsyncToSync.executors``, an ``asgiref.local.Local``
#: (``_storage._data``). Read directly, it answers "is there a sync caller up the stack?" at a
#: fifth of the cost of the ``Local``'s locked attribute lookup, asked on every ORM call.
_EXECUTORS_VAR: contextvars.ContextVar[Any] = AsyncToSync.executors._storage._data


def served_executor(wrapper: Any, served: dict[Any, Any]) -> Any:
    """The executor asgiref's ``SyncToAsync.__call__`` would send a call of ``wrapper`` made
    here to, if it is one of ``served`` (keyed by ``ThreadSensitiveContext``), else None.

    That is a thread-sensitive call run in a copy of the caller's context
    (``_thread_sensitive``, ``context``), from inside one of those contexts, with no sync
    caller further up the stack (``AsyncToSync.executors.current``, which asgiref asks
    first; its ``Local`` storage counts only when this thread owns it). One function: every
    ``a*`` ORM call of a test asks it.
    """
    if not wrapper._thread_sensitive or wrapper.context is not None:
        return None
    executor = served.get(wrapper.thread_sensitive_context.get(None))
    if executor is None:
        return None
    storage = _EXECUTORS_VAR.get(None)
    if (
        storage is not None
        and storage.thread_id == threading.get_ident()
        and storage.data.get("current") is not None
    ):
        return None
    return executor


#: asgiref's own ``SyncToAsync.__init__``; ``inlinecalls`` stands in for it during a run.
SYNC_TO_ASYNC_INIT: Callable[..., None] = SyncToAsync.__init__


def sync_to_async_init() -> Callable[..., None]:
    return SyncToAsync.__init__


def set_sync_to_async_init(init: Callable[..., None]) -> None:
    SyncToAsync.__init__ = init  # type: ignore[method-assign]


#: The attributes asgiref's ``SyncToAsync.__init__`` sets from the callable itself rather
#: than from its function: the callable, ``functools.update_wrapper``'s ``__wrapped__``, and a
#: bound method's instance.
PER_CALLABLE = ("func", "__wrapped__", "__self__")


_COPIED = operator.attrgetter(*functools.WRAPPER_ASSIGNMENTS)


def update_wrapper_sources(function: Any) -> tuple[Any, dict[str, Any]] | None:
    """What ``functools.update_wrapper`` copies from ``function``: its assignments and its
    ``__dict__`` (the live one, not a copy), or None for a function it cannot read them from,
    such as a builtin."""
    attributes = getattr(function, "__dict__", None)
    if attributes is None:
        return None
    try:
        return _COPIED(function), attributes
    except AttributeError:
        return None


def function_state(wrapper: Any, method: Any) -> dict[str, Any] | None:
    """What ``SyncToAsync(method)`` holds for any bound method of the same function: its
    attributes without ``PER_CALLABLE``. None when those are not exactly what they should
    be, so the state may depend on the instance."""
    attributes = vars(wrapper)
    if (
        attributes.get("func") is not method
        or attributes.get("__wrapped__") is not method
        or attributes.get("__self__") is not method.__self__
    ):
        return None
    return {name: value for name, value in attributes.items() if name not in PER_CALLABLE}


def run_thread_handler(wrapper: Any, loop: Any, func: Callable[..., Any], *args: Any) -> Any:
    """Run ``func(*args)`` the way asgiref's worker does, through ``wrapper.thread_handler``:
    it notes the caller's loop for a nested ``async_to_sync`` and re-raises the exception
    being handled, so that the call sees it; subclasses wrap it (Channels closes old
    connections around each call)."""
    return wrapper.thread_handler(loop, sys.exc_info(), [], func, *args)


def plain_thread_handler(wrapper: Any) -> bool:
    """True when the wrapper's class keeps asgiref's own ``thread_handler`` (Channels'
    ``DatabaseSyncToAsync`` replaces it)."""
    return type(wrapper).thread_handler is SyncToAsync.thread_handler


#: This process's id, for ``note_caller_loop``: ``os.getpid`` is a system call, and each
#: served call would make one. Renewed in a forked child.
_pid = os.getpid()


def _renew_pid() -> None:
    global _pid
    _pid = os.getpid()


os.register_at_fork(after_in_child=_renew_pid)


def note_caller_loop(loop: Any) -> None:
    """What asgiref's own ``thread_handler`` records before a call: the caller's loop and
    process for a nested ``async_to_sync``, and a fresh list for the task it may start."""
    local = SyncToAsync.threadlocal
    local.main_event_loop = loop
    local.main_event_loop_pid = _pid
    local.task_context = []


def end_thread_sensitive_call(wrapper: Any) -> None:
    """What asgiref's ``SyncToAsync.__call__`` does last: clear ``deadlock_context``."""
    wrapper.deadlock_context.set(False)


def foreign_local_storage(context: contextvars.Context) -> list[tuple[Any, Any]]:
    """The ``asgiref.local`` storage in ``context`` that belongs to another thread
    (``_Storage.thread_id``), each with its variable. asgiref re-homes such storage to the
    thread a ``sync_to_async`` call runs on, so the call sees that ``Local`` data."""
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
    unittest.TestSuite._handleClassSetUp  # type: ignore[attr-defined]
)


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
    return len(test._cleanups)  # type: ignore[attr-defined]


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
        transaction.Atomic.__enter__ = enter  # type: ignore[method-assign]
        transaction.Atomic.__exit__ = exit  # type: ignore[method-assign]
        transaction.mark_for_rollback_on_error = mark

    def undo(self) -> None:
        transaction.Atomic.__enter__ = ATOMIC_ENTER  # type: ignore[method-assign]
        transaction.Atomic.__exit__ = ATOMIC_EXIT  # type: ignore[method-assign]
        transaction.mark_for_rollback_on_error = MARK_FOR_ROLLBACK_ON_ERROR


def drop_asyncio_test_context(test: unittest.IsolatedAsyncioTestCase) -> None:
    """Forget ``IsolatedAsyncioTestCase._asyncioTestContext`` (unpicklable; unused by arunner,
    whose session runs every phase in a context of its own)."""
    test._asyncioTestContext = None  # type: ignore[attr-defined]


def worker_number() -> int:
    """This ``--parallel`` worker's number (``django.test.runner._worker_id``), which names
    its database clones; a replacement worker must take the same one."""
    return django_runner._worker_id  # type: ignore[attr-defined]


def error_holder(description: str) -> Any:
    """``unittest.suite._ErrorHolder``: the stand-in test a class- or module-level problem is
    reported against, as unittest and Django's ``ParallelTestSuite`` report it."""
    return unittest.suite._ErrorHolder(description)  # type: ignore[attr-defined]
