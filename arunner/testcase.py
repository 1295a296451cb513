"""Which tests are coroutine tests, and the phase hooks arunner installs on them.

unittest runs a test as setUp, test method, tearDown, cleanups; Django wraps coroutine test
methods in ``async_to_sync`` (a new thread and loop per test) and never awaits an ``async def
setUp``. arunner replaces the phase hooks on the test instance so that every phase goes to the
test's session, in this order: ``setUp``, ``asyncSetUp``, the test, ``asyncTearDown``,
``tearDown``, cleanups (sync or async), then the drain, all before the rollback.
"""

from __future__ import annotations

import functools
import inspect
import unittest
import warnings
from collections.abc import Callable
from inspect import CO_COROUTINE
from types import FunctionType
from typing import Any

from django.test import SimpleTestCase, TestCase

from . import inventory
from .session import TestSession, phase_coroutine

__unittest = True

_HOOKS = ("setUp", "asyncSetUp", "asyncTearDown", "tearDown")

_NO_OPS_OR_NONE = {
    None,
    unittest.TestCase.setUp,
    unittest.TestCase.tearDown,
    unittest.IsolatedAsyncioTestCase.asyncSetUp,
    unittest.IsolatedAsyncioTestCase.asyncTearDown,
}
_SET_UP = ("setUp", "asyncSetUp")
_TEAR_DOWN = ("asyncTearDown", "tearDown")


def is_isolated_asyncio(test: unittest.TestCase) -> bool:
    return isinstance(test, unittest.IsolatedAsyncioTestCase)


def is_coroutine_test(test: unittest.TestCase) -> bool:
    """True when any phase of the test is a coroutine, so it needs the runner's loop."""
    cls = type(test)
    return _has_async_phases(cls) or _is_coroutine_function(
        getattr(cls, test._testMethodName, None)
    )


def _is_coroutine_function(function: Any) -> bool:
    """``inspect.iscoroutinefunction``, without its calls for a plain function that carries no
    attributes (so no coroutine mark): most test methods. Asked once for every test."""
    if type(function) is FunctionType and not vars(function):
        return bool(function.__code__.co_flags & CO_COROUTINE)
    return inspect.iscoroutinefunction(function)


@functools.cache
def _has_async_phases(cls: type) -> bool:
    """Async hooks, or a class whose every test is a coroutine test."""
    if issubclass(cls, unittest.IsolatedAsyncioTestCase):
        return True
    return any(inspect.iscoroutinefunction(getattr(cls, name, None)) for name in _HOOKS)


def needs_own_rollback(test: unittest.TestCase) -> bool:
    """Coroutine tests outside Django's classes get the rollback a ``TestCase`` would give."""
    return not isinstance(test, SimpleTestCase)


def holds_atomic(test: unittest.TestCase, coroutine: bool) -> bool:
    """True for tests whose writes are rolled back, so nothing may commit beside them;
    ``coroutine`` is ``is_coroutine_test``'s answer.

    ``SimpleTestCase`` and ``TransactionTestCase`` hold no transaction: threads may use the
    databases they declare (Django refuses the others on every thread). arunner rolls back
    the coroutine tests of other classes.
    """
    if isinstance(test, SimpleTestCase):
        return isinstance(test, TestCase)
    return coroutine


def test_databases(test: unittest.TestCase) -> set[str]:
    """The aliases a unittest coroutine test may use: its ``databases``, default ``default``."""
    from django.db import connections

    databases = getattr(test, "databases", None)
    if databases == "__all__":
        return set(connections)
    if databases is None:
        return {"default"}
    return set(databases)


@functools.cache
def _defined(cls: type, names: tuple[str, ...]) -> tuple[str, ...]:
    """The hooks among ``names`` that the class defines, leaving out unittest's no-ops; per
    class, as ``_has_async_phases`` is."""
    return tuple(name for name in names if getattr(cls, name, None) not in _NO_OPS_OR_NONE)


class PhaseHooks:
    """Sends a test's phases to its session; installed as instance attributes.

    ``open_session`` is called at setUp time, so the session (and its loop) exists only while
    the test runs; ``finish`` drains it at the test's end, then ``rollback`` (for unittest
    classes) undoes its writes.
    """

    def __init__(
        self,
        test: unittest.TestCase,
        open_session: Callable[[], TestSession],
        enter_atomics: Callable[[], Callable[[], None]] | None,
    ) -> None:
        self.test = test
        self.method = getattr(test, test._testMethodName)
        self.open_session = open_session
        self.enter_atomics = enter_atomics
        self.session: TestSession | None = None
        self._own_cleanups = 0
        self.rollback: Callable[[], None] | None = None
        self._added: list[str] = []
        self._end: Callable[[], None] | None = None
        self._set_up = _defined(type(test), _SET_UP)
        self._tear_down = _defined(type(test), _TEAR_DOWN)

    def install(self) -> None:
        test = self.test
        attributes = vars(test)
        added = {name: getattr(self, hook) for name, hook in _PHASE_HOOKS}
        if not hasattr(type(test), "addAsyncCleanup"):
            added["addAsyncCleanup"] = self.addAsyncCleanup
        name = test._testMethodName
        if name not in attributes:
            stand_in = _stand_in(getattr(type(test), name, None))
            if stand_in is not None:
                added[name] = stand_in
        self._added = list(added)
        attributes.update(added)
        if is_isolated_asyncio(test):
            # Kept after the test: ``IsolatedAsyncioTestCase.run`` calls the teardown one
            # once the cleanups (and so ``uninstall``) are done.
            attributes.update(dict.fromkeys(inventory.ISOLATED_ASYNCIO_SETUP, _no_op))

    def __reduce__(self) -> Any:
        """Refused, so Django's check of a failing subtest's test for ``--parallel`` leaves
        the hooks (installed on the test as bound methods) out instead of pickling the test
        they hold, which holds them."""
        raise TypeError("arunner's phase hooks stay in the process that runs the test")

    def addAsyncCleanup(self, function: Callable[..., Any], /, *args: Any, **kwargs: Any) -> None:
        """For classes without one (``unittest.TestCase``): a cleanup the session awaits."""
        self.test.addCleanup(function, *args, **kwargs)

    def uninstall(self) -> None:
        """Take off what ``install`` added: the test is over. The instance and its hooks
        refer to each other, so this lets them be freed at once rather than by the cyclic
        garbage collector, and running the same instance again starts afresh."""
        attributes = vars(self.test)
        for name in self._added:
            attributes.pop(name, None)

    def ends_with(self, end: Callable[[], None]) -> None:
        """``end`` is registered as a cleanup: it runs on the test's thread, not in the
        session it finishes."""
        self._end = end

    def callSetUp(self) -> None:
        if self.enter_atomics is not None:
            self.rollback = self.enter_atomics()
        self.session = self.open_session()
        self.session.start()
        self._own_cleanups = inventory.cleanup_count(self.test)
        for name in self._set_up:
            self.session.call(getattr(self.test, name))

    def callTestMethod(self, method: Callable[..., Any]) -> None:
        assert self.session is not None
        outcome = self.session.run(phase_coroutine(self.method), last=self._nothing_follows)
        if outcome is not None:
            warnings.warn(
                f"It is deprecated to return a value that is not None from a test case "
                f"({self.method})",
                DeprecationWarning,
                stacklevel=4,
            )

    def _nothing_follows(self) -> bool:
        """No teardown hook or cleanup of the test's own will run after the test method."""
        return not self._tear_down and inventory.cleanup_count(self.test) == self._own_cleanups

    def callTearDown(self) -> None:
        assert self.session is not None
        for name in self._tear_down:
            self.session.call(getattr(self.test, name))

    def callCleanup(self, function: Callable[..., Any], /, *args: Any, **kwargs: Any) -> None:
        if function is self._end or self.session is None or self.session.finished:
            function(*args, **kwargs)
        else:
            self.session.call(function, *args, **kwargs)

    def finish(self) -> None:
        try:
            if self.session is not None:
                self.session.finish()
        finally:
            if self.rollback is not None:
                self.rollback()


@functools.cache
def _stand_in(function: Any) -> Callable[[], None] | None:
    """What unittest and Django see as a coroutine test method while arunner runs it.

    A sync function with the method's name and attributes (skip and expected-failure marks),
    so that Django does not wrap the coroutine in ``async_to_sync`` for a call that never
    comes: ``callTestMethod`` runs the method itself. None for a sync method.
    """
    if not inspect.iscoroutinefunction(function):
        return None

    def test_method() -> None:
        raise RuntimeError("arunner runs this coroutine test method through its session")

    functools.update_wrapper(test_method, function)
    return test_method


#: unittest's phase hooks, each with the method of ``PhaseHooks`` that replaces it.
_PHASE_HOOKS = tuple((name, name.lstrip("_")) for name in inventory.UNITTEST_PHASES)


def _no_op() -> None:
    """Stands in for ``IsolatedAsyncioTestCase``'s own loop set-up: the runner owns the loop."""
