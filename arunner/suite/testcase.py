"""Which tests are coroutine tests, and the phase hooks arunner installs on them.

unittest runs a test as setUp, test method, tearDown, cleanups; Django wraps coroutine test
methods in ``async_to_sync`` (a new thread and loop per test) and never awaits an ``async def
setUp``. arunner replaces the phase hooks on the test instance so that every phase goes to the
test's session, in this order: ``setUp``, ``asyncSetUp``, the test, ``asyncTearDown``,
``tearDown``, cleanups (sync or async), then the drain, all before the rollback. The test
method itself stays what the test sees under ``DiscoverRunner`` (Django's wrapper, or the
coroutine method); only ``callTestMethod`` knows that the session runs it.
"""

from __future__ import annotations

import functools
import inspect
import unittest
import warnings
from collections.abc import Callable
from inspect import CO_COROUTINE
from types import FunctionType
from typing import Any, NamedTuple, TypeGuard

from asgiref.sync import async_to_sync
from django.test import SimpleTestCase, TestCase

from arunner.core import inventory
from arunner.core.guard import TestPlan, method_function, record_failure
from arunner.core.phases import TestSession
from arunner.guards import isolation

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


def is_isolated_asyncio(test: unittest.TestCase) -> TypeGuard[unittest.IsolatedAsyncioTestCase]:
    return isinstance(test, unittest.IsolatedAsyncioTestCase)


def is_coroutine_test(test: unittest.TestCase) -> bool:
    """True when any phase of the test is a coroutine, so it needs the runner's loop."""
    return is_coroutine_method(test) or has_async_phases(type(test))  # type: ignore[arg-type]  # classes are hashable: mypy#11470


def is_coroutine_method(test: unittest.TestCase) -> bool:
    """True when the test method itself is a coroutine function."""
    return is_coroutine_function(method_function(test))


def is_coroutine_function(function: Any) -> bool:
    """``inspect.iscoroutinefunction``, without its calls for a plain function that carries no
    attributes (so no coroutine mark): most test methods. Asked once for every test."""
    if type(function) is FunctionType and not vars(function):
        return bool(function.__code__.co_flags & CO_COROUTINE)
    return inspect.iscoroutinefunction(function)


@functools.cache
def has_async_phases(cls: type) -> bool:
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
    """The aliases a unittest coroutine test may use: its ``databases``, default ``default``.

    Leaves out the aliases of Django's dummy backend (what a project without ``DATABASES``
    gets): there is no database to set up or roll back, and DiscoverRunner runs such a
    project's tests without one.
    """
    from django.db import connections

    databases = getattr(test, "databases", None)
    if databases == "__all__":
        aliases = set(connections)
    elif databases is None:
        aliases = {"default"}
    else:
        aliases = set(databases)
    return {alias for alias in aliases if not _is_dummy(connections.settings.get(alias))}


def _is_dummy(settings: dict[str, Any] | None) -> bool:
    return settings is not None and settings.get("ENGINE") == "django.db.backends.dummy"


@functools.cache
def _defined(cls: type, names: tuple[str, ...]) -> tuple[str, ...]:
    """The hooks among ``names`` that the class defines, leaving out unittest's no-ops; per
    class, as ``has_async_phases`` is."""
    return tuple(name for name in names if getattr(cls, name, None) not in _NO_OPS_OR_NONE)


class _ClassHooks(NamedTuple):
    """What ``PhaseHooks`` needs to know of a test class, found once per class."""

    set_up: tuple[str, ...]
    tear_down: tuple[str, ...]
    #: unittest's ``TestCase`` has no ``addAsyncCleanup``; arunner gives its tests one.
    lacks_async_cleanup: bool
    isolated_asyncio: bool
    #: Django's ``SimpleTestCase`` family, whose coroutine test methods Django wraps.
    django: bool


@functools.cache
def _class_hooks(cls: type) -> _ClassHooks:
    return _ClassHooks(
        _defined(cls, _SET_UP),
        _defined(cls, _TEAR_DOWN),
        not hasattr(cls, "addAsyncCleanup"),
        issubclass(cls, unittest.IsolatedAsyncioTestCase),
        issubclass(cls, SimpleTestCase),
    )


class PhaseHooks:
    """Sends a test's phases to its session; installed as instance attributes.

    The session is handed over as the test begins and started at setUp time, so the loop it
    runs on is taken only while the test runs; ``finish`` drains it at the test's end, then,
    for unittest classes, rolls back the atomics opened on ``rollback_aliases``.
    """

    def __init__(
        self,
        test: unittest.TestCase,
        coroutine_method: bool,
        session: TestSession,
        rollback_aliases: frozenset[str] | None,
    ) -> None:
        self.test = test
        self.method = getattr(test, inventory.test_method_name(test))
        self.coroutine_method = coroutine_method
        self.session = session
        self.rollback_aliases = rollback_aliases
        self._own_cleanups = 0
        self.rollback: Callable[[], None] | None = None
        self._added: tuple[str, ...] = ()
        self._end: Callable[[unittest.TestCase], None] | None = None
        self._class = _class_hooks(type(test))  # type: ignore[arg-type]  # classes are hashable: mypy#11470

    def install(self) -> None:
        test = self.test
        attributes = vars(test)
        added: tuple[str, ...] = _PHASE_NAMES
        for name, hook in _PHASE_HOOKS:
            attributes[name] = getattr(self, hook)
        if self._class.lacks_async_cleanup:
            attributes["addAsyncCleanup"] = self.addAsyncCleanup
            added += ("addAsyncCleanup",)
        name = inventory.test_method_name(test)
        if self._class.django and self.coroutine_method and name not in attributes:
            attributes[name] = _as_django_wraps(self.method)
            added += (name,)
        self._added = added
        if self._class.isolated_asyncio:
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

    def ends_with(self, end: Callable[[unittest.TestCase], None]) -> None:
        """``end`` is registered as a cleanup: it runs on the test's thread, not in the
        session it finishes."""
        self._end = end

    def callSetUp(self) -> None:
        if self.rollback_aliases is not None:
            self.rollback = isolation.enter_atomics(self.rollback_aliases)
        session = self.session
        session.start()
        self._own_cleanups = inventory.cleanup_count(self.test)
        for name in self._class.set_up:
            session.call(getattr(self.test, name))

    def callTestMethod(self, method: Callable[..., Any]) -> None:
        """Runs the test's own method, whatever unittest passes as ``method`` (for Django's
        classes, the ``async_to_sync`` wrapper ``install`` put in its place)."""
        if self.coroutine_method:
            outcome = self.session.run(self.method(), last=self._nothing_follows)
        else:
            outcome = self.session.call(self.method)
        if outcome is not None:
            warnings.warn(
                f"It is deprecated to return a value that is not None from a test case "
                f"({self.method})",
                DeprecationWarning,
                stacklevel=4,
            )

    def _nothing_follows(self) -> bool:
        """No teardown hook or cleanup of the test's own will run after the test method."""
        return (
            not self._class.tear_down and inventory.cleanup_count(self.test) == self._own_cleanups
        )

    def callTearDown(self) -> None:
        for name in self._class.tear_down:
            self.session.call(getattr(self.test, name))

    def callCleanup(self, function: Callable[..., Any], /, *args: Any, **kwargs: Any) -> None:
        if function is self._end or not self.session.running:
            function(*args, **kwargs)
        else:
            self.session.call(function, *args, **kwargs)

    def finish(self) -> None:
        try:
            if self.session.started:
                self.session.finish()
        finally:
            if self.rollback is not None:
                self.rollback()


class CoroutineTests:
    """The run's guard (``core.guard``) for coroutine tests: their phase hooks, installed
    before the test, and their session's drain and rollback at its end (first of all the
    ends, so that the others see the test rolled back). ``new_session`` is the run's: it
    makes the session of a coroutine test as the test begins."""

    def __init__(self, new_session: Callable[[unittest.TestCase], TestSession]) -> None:
        self.new_session = new_session

    def install(self) -> None:
        """Nothing for the run: the hooks go on each coroutine test's instance."""

    def uninstall(self) -> None:
        """Nothing for the run."""

    def prepare(self, plan: TestPlan) -> TestPlan | None:
        """Coroutine tests only."""
        return plan if plan.coroutine else None

    def begin(self, test: unittest.TestCase, plan: TestPlan) -> PhaseHooks:
        # Without async phases, only a coroutine test method makes a coroutine test.
        method = not has_async_phases(plan.test_class) or is_coroutine_method(test)  # type: ignore[arg-type]  # classes are hashable: mypy#11470
        hooks = PhaseHooks(test, method, self.new_session(test), plan.rollback_aliases)
        if plan.end_cleanup is not None:
            hooks.ends_with(plan.end_cleanup)
        hooks.install()
        return hooks

    def end(self, test: unittest.TestCase, hooks: PhaseHooks) -> None:
        """Drain and roll back, then run the cleanups the drained tasks added; the hooks
        come off the instance whatever fails."""
        try:
            try:
                hooks.finish()
            except BaseException as exc:
                record_failure(test, exc)
            if inventory.cleanup_count(test):
                test.doCleanups()
        finally:
            hooks.uninstall()


#: The marks unittest reads from a test method; asgiref's wrapper does not carry them.
_UNITTEST_MARKS = ("__unittest_skip__", "__unittest_skip_why__", "__unittest_expecting_failure__")


def _as_django_wraps(method: Callable[..., Any]) -> Any:
    """The coroutine test method as Django's ``SimpleTestCase`` shows it from set-up to the
    cleanups: wrapped in ``async_to_sync``, which tests may check for.

    Put in place before Django's ``_setup_and_call`` looks, so Django leaves it as it is;
    ``callTestMethod`` runs the method itself, so the wrapper is never called. It carries the
    skip and expected-failure marks of the method, which unittest reads from it, and refuses
    to be pickled: Django's check of a failing subtest's test for ``--parallel`` then leaves
    it out, where pickling the test it holds would send that check into endless recursion.
    """
    wrapper = async_to_sync(method)
    attributes = vars(wrapper)
    attributes["__reduce_ex__"] = _not_pickled
    marks = _marks(getattr(method, "__func__", method))
    if marks:
        attributes.update(marks)
    return wrapper


def _not_pickled(protocol: int) -> Any:
    raise TypeError("arunner's test method wrapper stays in the process that runs the test")


@functools.cache
def _marks(function: Any) -> dict[str, Any]:
    """The unittest marks a test function carries; per function, as asked for every test."""
    return {name: getattr(function, name) for name in _UNITTEST_MARKS if hasattr(function, name)}


#: unittest's phase hooks, each with the method of ``PhaseHooks`` that replaces it.
_PHASE_HOOKS = tuple((name, name.lstrip("_")) for name in inventory.UNITTEST_PHASES)
_PHASE_NAMES = inventory.UNITTEST_PHASES


def _no_op() -> None:
    """Stands in for ``IsolatedAsyncioTestCase``'s own loop set-up: the runner owns the loop."""
