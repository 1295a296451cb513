"""Django's ``assertNumQueries`` and ``captureOnCommitCallbacks``, usable in coroutine tests.

Django's ``connections`` gives each task on a running loop its own connections, so inside a
coroutine test ``connections["default"]`` is not the connection that holds the test's
transaction and serves its ``a*`` ORM calls: Django's context managers then raise
``SynchronousOnlyOperation`` or capture nothing. arunner owns the thread that holds that
connection and the executor that brings the test's thread-sensitive calls to it, so for a
coroutine test of Django's ``TransactionTestCase`` family it gives the instance these two
methods: on the test's loop they return a context manager that builds, enters and leaves
Django's own one on the test's thread. Anywhere else (sync set-up, sync tests, code run
through ``sync_to_async``) they are Django's, unchanged.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import inspect
from collections.abc import Callable, Iterator
from concurrent.futures import Executor
from typing import Any, Protocol, TypeVar

from django.db import DEFAULT_DB_ALIAS
from django.test import TransactionTestCase

from arunner.core import inventory
from arunner.core.guard import TestPlan

__all__ = ["QueryAssertionError", "applies", "install", "uninstall"]

__unittest = True

T = TypeVar("T")

#: The methods arunner gives a coroutine test, when its class has them.
NAMES = ("assertNumQueries", "captureOnCommitCallbacks")


class QueryAssertionError(RuntimeError):
    """A query assertion was used in a form or a place arunner cannot serve."""


class TestThread(Protocol):
    """Where the coroutine test runs (``bridges.Bridge``): its loop (which refuses
    ``async_to_sync`` work from the thread named ``owner_ident``), and the executor that runs
    a call on the thread that holds the test's connections (named ``owner_ident`` too)."""

    loop: Any
    executor: Any


def applies(test_class: type) -> bool:
    """True for the test classes that have Django's query assertions."""
    return issubclass(test_class, TransactionTestCase)


def install(test: Any, current: Callable[[], TestThread | None]) -> None:
    """Give a coroutine test the methods for its run; ``current`` returns where the running
    coroutine test lives (None when none is running)."""
    assertions = QueryAssertions(test, current)
    attributes = vars(test)
    for name in _names(type(test)):  # type: ignore[arg-type]  # classes are hashable: mypy#11470
        attributes[name] = getattr(assertions, name)


@functools.cache
def _names(cls: type) -> tuple[str, ...]:
    """The names of ``NAMES`` the class has (``TransactionTestCase`` lacks the second)."""
    return tuple(name for name in NAMES if hasattr(cls, name))


def uninstall(test: Any) -> None:
    """Take off what ``install`` gave the test: nothing of a run survives it."""
    attributes = vars(test)
    for name in NAMES:
        method = attributes.get(name)
        if isinstance(getattr(method, "__self__", None), QueryAssertions):
            del attributes[name]


class QueryAssertionsGuard:
    """The run's guard (``core.guard``) that gives coroutine tests these methods for their
    run; ``current`` as for ``install``."""

    def __init__(self, current: Callable[[], TestThread | None]) -> None:
        self.current = current

    def install(self) -> None:
        """Nothing for the run: the methods go on each test's instance."""

    def uninstall(self) -> None:
        """Nothing for the run."""

    def prepare(self, plan: TestPlan) -> TestPlan | None:
        """Coroutine tests of the classes that have these assertions."""
        return plan if plan.coroutine and applies(plan.test_class) else None

    def begin(self, test: Any, plan: TestPlan) -> None:
        install(test, self.current)

    def end(self, test: Any, begun: None) -> None:
        uninstall(test)


class QueryAssertions:
    """The per-test methods, installed as instance attributes for the test's run."""

    def __init__(self, test: Any, current: Callable[[], TestThread | None]) -> None:
        self.test = test
        self.current = current

    def __reduce__(self) -> Any:
        """Refused, so that Django's pickling check of a failing subtest under ``--parallel``
        leaves these methods out rather than pickling the test they hold."""
        raise TypeError("arunner's query assertions stay in the process that runs the test")

    def assertNumQueries(
        self,
        num: int,
        func: Callable[..., Any] | None = None,
        *args: Any,
        using: str = DEFAULT_DB_ALIAS,
        **kwargs: Any,
    ) -> Any:
        """Django's ``assertNumQueries``; on the test's loop, counted on the test's thread."""
        original = _django_method(self.test, "assertNumQueries")
        if _running_loop() is None:
            return original(num, func, *args, using=using, **kwargs)
        home = self._home("assertNumQueries")
        if func is None:
            return OnTestThread(lambda: original(num, using=using), home)
        if inspect.iscoroutinefunction(func):
            raise QueryAssertionError(
                f"arunner: self.assertNumQueries({num}, {_name(func)}) cannot await a "
                f"coroutine function; write `with self.assertNumQueries({num}): await "
                f"{_name(func)}(...)` instead"
            )
        return home.run(lambda: original(num, _sync_only(func, num), *args, using=using, **kwargs))

    def captureOnCommitCallbacks(self, **kwargs: Any) -> Any:
        """Django's ``captureOnCommitCallbacks``; on the test's loop, the callbacks of the test's
        thread are captured (and executed there when ``execute=True``)."""
        original = _django_method(self.test, "captureOnCommitCallbacks")
        if _running_loop() is None:
            return original(**kwargs)
        return OnTestThread(lambda: original(**kwargs), self._home("captureOnCommitCallbacks"))

    def _home(self, name: str) -> Home:
        """The way from here to the thread that serves this coroutine's ORM calls.

        That is where asgiref sends them: the thread of a sync caller up the stack (code the
        test runs through ``sync_to_async`` that calls ``async_to_sync``), else, on the test's
        own loop, the test's thread through arunner's executor.
        """
        place = self.current()
        test_loop = place if place is not None and place.loop is _running_loop() else None
        paused = (test_loop.loop, test_loop.executor.owner_ident) if test_loop is not None else None
        caller = inventory.sync_caller_executor()
        if caller is not None:
            return Home(caller, name, paused)
        if test_loop is None:
            raise QueryAssertionError(
                f"arunner: self.{name}() was used on an event loop that is not the loop of "
                f"{self.test.id()} (a thread with a loop of its own); use it in the test's "
                f"own coroutines (the test method, asyncSetUp, asyncTearDown, the tasks they "
                f"start) or in sync code the test runs through sync_to_async"
            )
        return Home(test_loop.executor, name, paused)


class Home:
    """Runs calls on the test's thread, from the test's loop, and waits for them.

    ``paused`` is the test's loop and the test's thread when the wait blocks that loop.
    """

    def __init__(self, executor: Executor, name: str, paused: tuple[Any, int] | None) -> None:
        self.executor = executor
        self.name = name
        self.paused = paused

    def run(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` on the test's thread, in a copy of the caller's context variables (as
        ``sync_to_async`` would), and return what it returns."""
        if _running_loop() is None:
            return fn()
        context = contextvars.copy_context()
        if self.paused is None:
            return self.executor.submit(context.run, fn).result()
        with _loop_paused(*self.paused):
            return self.executor.submit(context.run, fn).result()


@contextlib.contextmanager
def _loop_paused(loop: Any, home_ident: int) -> Iterator[None]:
    """While the loop's thread waits for the test's thread, the loop runs nothing, so asgiref
    on the test's thread must not queue an ``async_to_sync`` coroutine on it (an on-commit
    callback that sends to a Channels layer would wait forever). arunner's loop refuses such
    work from the thread it takes for its own (``TrackingLoop.call_soon_threadsafe``, for
    inline mode's paused loop), and asgiref then runs the coroutine on a loop of its own; so
    for the wait the test's thread is taken for the loop's own. In inline mode it is already.
    """
    before = loop.owner_ident
    loop.owner_ident = home_ident
    try:
        yield
    finally:
        loop.owner_ident = before


class OnTestThread:
    """A context manager that builds, enters and leaves Django's one on the test's thread;
    a new one for each ``with`` block, as Django's are made for one."""

    def __init__(self, make: Callable[[], Any], home: Home) -> None:
        self._make = make
        self._home = home
        self._manager: Any = None

    def __enter__(self) -> Any:
        if self._manager is not None:
            raise QueryAssertionError(
                f"arunner: this self.{self._home.name}() is already in a `with` block; call "
                f"self.{self._home.name}() again for a nested one"
            )

        def enter() -> tuple[Any, Any]:
            manager = self._make()
            return manager, manager.__enter__()

        self._manager, value = self._home.run(enter)
        return value

    def __exit__(self, *exc_info: Any) -> Any:
        manager, self._manager = self._manager, None
        return self._home.run(lambda: manager.__exit__(*exc_info))


def _sync_only(func: Callable[..., Any], num: int) -> Callable[..., Any]:
    """``func`` for the callable form, refusing a result that is awaitable: its queries
    would run after the count, if ever."""

    def call(*args: Any, **kwargs: Any) -> Any:
        result = func(*args, **kwargs)
        if inspect.isawaitable(result):
            if inspect.iscoroutine(result):
                result.close()
            raise QueryAssertionError(
                f"arunner: self.assertNumQueries({num}, {_name(func)}) got an awaitable "
                f"from {_name(func)}; write `with self.assertNumQueries({num}): await "
                f"{_name(func)}(...)` instead"
            )
        return result

    return call


def _django_method(test: Any, name: str) -> Any:
    """The class's own ``name`` (Django's, or a subclass's), bound to ``test``."""
    return inspect.getattr_static(type(test), name).__get__(test, type(test))


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def _name(func: Any) -> str:
    return getattr(func, "__qualname__", None) or repr(func)
