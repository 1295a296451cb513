"""What one run of the suite owns (loops per scope, guards and watchdog per run), and the
per-test preparation that composes the features around every test.

A run's context is made where its tests run (``testsuite``: inside each ``--parallel``
worker too), so everything that owns a thread or a loop is made there, never in the parent
before the workers fork.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import sys
import unittest
from collections.abc import Callable
from typing import Any, ClassVar

from django.db import connections
from django.test import TestCase

from arunner.core import inventory
from arunner.core.bridges import Bridge, Bridges
from arunner.core.drain import ThreadWatch
from arunner.core.errors import TestTimeoutError
from arunner.core.options import RunConfig
from arunner.core.phases import TestSession
from arunner.guards import isolation, threadguard, threadscope
from arunner.guards.diagnostics import TestDiagnostics
from arunner.guards.threadguard import ThreadGuard
from arunner.parallel import workers
from arunner.report import closingline
from arunner.suite import queryassertions, testcase
from arunner.timeouts import watchdog

__unittest = True


#: The instance attribute that holds what the end of a test takes care of, from
#: ``before_test`` to that end: its guard scope, its phase hooks (coroutine tests) and its
#: armed time limit. Kept with the test, so a suite run inside a test does not replace it.
_ENDING = "_arunner_ending"

_Ending = tuple[threadscope.Scope, "testcase.PhaseHooks | None", "watchdog.Armed | None"]


def _record(test: unittest.TestCase) -> None:
    """Called while one step of a test's end is handling its exception: record it against
    the test as unittest records a failing cleanup's; outside ``run`` (``debug()``) it
    propagates."""
    part = inventory.test_part(test)
    if part is None:
        raise
    with part:
        raise


def _then_end_test(do_cleanups: Callable[[unittest.TestCase], Any]) -> Callable[..., Any]:
    """``TestCase.doCleanups`` followed by the end of the test arunner prepared.

    ``TestCase.run`` calls it once the test's own cleanups are due, so the end comes after all
    of them, as a cleanup registered before ``setUp`` would, without unittest's bookkeeping
    for one more cleanup (an outcome executor around it) on every test.
    """

    def doCleanups(test: unittest.TestCase) -> Any:
        outcome = do_cleanups(test)
        context = RunContext.active
        if context is not None:
            context.end_test(test)
        return outcome

    doCleanups.arunner_original = do_cleanups  # type: ignore[attr-defined]  # a mark on the wrapper, to find what it wraps
    return doCleanups


class RunContext:
    """Everything one run of a suite owns: loops, the executor, the guards."""

    active: ClassVar[RunContext | None] = None

    def __init__(self, config: RunConfig, result: unittest.TestResult, debug: bool = False) -> None:
        self.config = config
        self.result = result
        #: ``TestCase.debug`` pops cleanups itself, without ``doCleanups``.
        self.debug = debug
        self.bridges = Bridges(config.executor, config.loop, config.asyncio_debug)
        self.threads = ThreadWatch()
        self.guard = ThreadGuard(config.test_aliases, self.threads, config.compat)
        self.protection = isolation.ConnectionProtection(config.test_aliases, not config.compat)
        self.watchdog = watchdog.Watchdog(self._end_run)
        self.diagnostics = TestDiagnostics(config.strict, config.asyncio_debug)
        self._class: type | None = None
        #: What puts back the user classes whose async ``setUpTestData`` this run made sync.
        self._class_hooks: list[Callable[[], None]] = []
        self._class_bridge: Bridge | None = None
        self._test_bridge: Bridge | None = None
        self._session: TestSession | None = None
        self._ends_after_cleanups = False
        #: Per class: the guard's choice (``threadscope.choose``) for sync and for coroutine tests
        #: (indexed by ``is_coroutine_test``), and the class's time limit.
        self._modes: tuple[threadscope.Choice, threadscope.Choice] = (
            threadscope.Choice(config.db_threads, None, True),
        ) * 2
        self._class_limit = config.timeout
        self._rollback_aliases: frozenset[str] | None = None
        self._loop_per_test = False
        #: ``has_async_phases`` of the class: then even its sync test methods are coroutine tests.
        self._async_phases = False

    def __enter__(self) -> RunContext:
        self.protection.install()
        self.guard.install()
        self.threads.install()
        self.watchdog.install()
        self.diagnostics.install()
        unittest.TestCase.doCleanups = _then_end_test(unittest.TestCase.doCleanups)  # type: ignore[method-assign]  # wrapped for the run, undone on exit
        RunContext.active = self
        return self

    def __exit__(self, *exc_info: Any) -> None:
        RunContext.active = None
        try:
            try:
                self._close_test_bridge()
                self._close_class_bridge()
                self.bridges.shutdown()
            finally:
                threadscope.refuse_strays(self.threads.alive())
                self.diagnostics.uninstall()
                self.watchdog.uninstall()
                self.threads.uninstall()
                self.guard.uninstall()
                self.protection.uninstall()
        finally:
            _undo_end_test()
            while self._class_hooks:
                self._class_hooks.pop()()

    def before_test(self, test: unittest.TestCase) -> None:
        """Prepare one test; runs before its class set-up, right before the test itself."""
        if self._test_bridge is not None:
            self._close_test_bridge()
        if type(test) is not self._class:
            self._enter_class(test)
        function = testcase.method_function(test)
        coroutine_method = testcase.is_coroutine_function(function)
        coroutine = coroutine_method or self._async_phases
        scope = self.guard.begin(test, *self._modes[coroutine])
        self.diagnostics.begin(test)
        hooks = None
        if coroutine:
            hooks = testcase.PhaseHooks(test, coroutine_method, self, self._rollback_aliases)
        self._session = None
        limit = watchdog.limit_for(function, self._class_limit)
        armed = self._time_limit(test, limit) if limit > 0 else None
        ending: _Ending = (scope, hooks, armed)
        vars(test)[_ENDING] = ending
        if not self._ends_after_cleanups:
            end = functools.partial(self.end_test, test)
            if hooks is not None:
                hooks.ends_with(end)
            test.addCleanup(end)
        if hooks is not None:
            hooks.install()
            if queryassertions.applies(test):
                queryassertions.install(test, self.running_bridge)

    def _enter_class(self, test: unittest.TestCase) -> None:
        """The first test of a class (or the first after another class's tests): what
        depends only on the class is decided here, once."""
        if self.config.loop_scope != "run":
            self._close_class_bridge()
        cls = self._class = type(test)
        self._async_phases = testcase.has_async_phases(cls)  # type: ignore[arg-type]  # classes are hashable: mypy#11470
        self._ends_after_cleanups = not self.debug and _ends_in_do_cleanups(cls)
        if issubclass(cls, TestCase):
            undo = _make_class_hook_sync(cls, "setUpTestData")
            if undo is not None:
                self._class_hooks.append(undo)
        config = self.config
        self._rollback_aliases = None
        if testcase.needs_own_rollback(test) and not config.compat:
            aliases = testcase.test_databases(test) & config.test_aliases
            self._rollback_aliases = isolation.with_database(aliases)
        # A unittest coroutine test holds a transaction only when arunner opens one for it.
        rolled_back = bool(self._rollback_aliases)
        self._modes = tuple(  # type: ignore[assignment]  # a pair, one per value of coroutine
            threadscope.choose(
                test,
                testcase.holds_atomic(test, coroutine and rolled_back),
                config.db_threads,
                config.compat,
            )
            for coroutine in (False, True)
        )
        self._class_limit = watchdog.class_limit(cls, self.config.timeout)
        self._loop_per_test = testcase.is_isolated_asyncio(test) or self.config.loop_scope == "test"

    def end_test(self, test: unittest.TestCase) -> None:
        """After the test's own cleanups: drain a coroutine test and roll it back (and run the
        cleanups its leftover tasks added), then its time limit, what it triggered, the
        connections its threads used, and the phase hooks on the instance. Each step runs even
        when an earlier one fails."""
        ending: _Ending | None = vars(test).pop(_ENDING, None)
        if ending is None:
            return
        scope, hooks, armed = ending
        try:
            if hooks is not None:
                try:
                    hooks.finish()
                except BaseException:
                    _record(test)
                if inventory.cleanup_count(test):
                    test.doCleanups()
        finally:
            try:
                if armed is not None:
                    try:
                        self.watchdog.check(armed)
                    except BaseException:
                        _record(test)
                try:
                    self.diagnostics.end()
                except BaseException:
                    _record(test)
            finally:
                try:
                    self.guard.end(scope)
                except BaseException:
                    _record(test)
                finally:
                    if hooks is not None:
                        hooks.uninstall()
                        queryassertions.uninstall(test)

    def _time_limit(self, test: unittest.TestCase, seconds: float) -> watchdog.Armed:
        """Arm the watchdog when the test starts running (after its class set-up); the end of
        the test checks it."""
        aliases = testcase.test_databases(test) & self.config.test_aliases
        wrappers = [connections[alias] for alias in sorted(aliases)]
        armed = watchdog.Armed(test.id(), seconds, wrappers, self._cancel_session, self._where)
        run = test.run

        def run_with_limit(result: Any = None) -> Any:
            watchdog.start(armed, result)
            self.watchdog.arm(armed)
            try:
                return run(result)
            finally:
                self.watchdog.disarm()

        test.run = run_with_limit  # type: ignore[method-assign]  # this test instance only, for its run
        return armed

    def running_bridge(self) -> Bridge | None:
        """The bridge of the coroutine test in progress: where its query assertions reach
        the test's thread."""
        session = self._session
        return None if session is None or session.finished else session.bridge

    def _cancel_session(self, armed: watchdog.Armed) -> None:
        session = self._session
        if session is not None and not session.finished:
            session.cancel_for_timeout(armed)

    def _where(self) -> tuple[Any, Any]:
        session = self._session
        if session is None:
            return None, None
        return session.bridge.loop, session.task

    def _end_run(self, armed: watchdog.Armed) -> None:
        """The watchdog's last resort: the test cannot be stopped. Count it, clean up, exit."""
        if workers.in_worker():

            def hand_over() -> None:
                workers.leave_note(armed.test_id, armed.report or "", self.result)

            ending = "this --parallel worker; the run goes on"
            watchdog.end_run(armed.report or "", hand_over, ending)
            return
        _record_timeout(self.result, armed, self._recorded())
        passed, failed, skipped = closingline.counts(self.result)
        if armed.test_id not in self._recorded():
            passed, failed = max(0, passed - 1), failed + 1
        line = f"{passed} passed, {failed} failed, {skipped} skipped"
        wrappers = [connections[alias] for alias in sorted(self.config.test_aliases)]

        def finish() -> None:
            watchdog.drop_test_databases(wrappers, self.config.keepdb)
            sys.stderr.write(f"\nRan {self.result.testsRun} tests\n\nFAILED\n\n{line}\n")

        watchdog.end_run(armed.report or "", finish)

    def _recorded(self) -> set[str]:
        """The ids of the tests the result holds a failure or an error of."""
        return {test.id() for test, *_ in (*self.result.errors, *self.result.failures)}

    def class_bridge(self) -> Bridge:
        if self._class_bridge is None:
            self._class_bridge = self.bridges.new()
        return self._class_bridge

    def open_session(self, test: unittest.TestCase) -> TestSession:
        """The session of a coroutine test, on its class's loop or on a loop of its own."""
        if self._loop_per_test:
            bridge = self._test_bridge = self.bridges.new()
        else:
            bridge = self._class_bridge or self.class_bridge()
        self._session = TestSession(
            bridge,
            test,
            self.config.task_grace,
            self.threads,
            self.config.strict_tasks,
            at_stake=threadguard.running_test_at_stake,
            disown=threadscope.disown,
        )
        return self._session

    def _close_test_bridge(self) -> None:
        if self._test_bridge is not None:
            bridge, self._test_bridge = self._test_bridge, None
            bridge.close()

    def _close_class_bridge(self) -> None:
        if self._class_bridge is not None:
            bridge, self._class_bridge = self._class_bridge, None
            bridge.close()


def _record_timeout(result: unittest.TestResult, armed: watchdog.Armed, recorded: set[str]) -> None:
    """Before the last resort ends the run: the test that could not be stopped ends as an
    error with its report (unless it has one already, the timeout delivered but swallowed),
    so the reports written on the way out (JUnit) have it too."""
    test = getattr(result, "_running", None)
    if test is None or test.id() != armed.test_id:
        return
    error = TestTimeoutError(armed.report)
    with contextlib.suppress(Exception):
        if armed.test_id not in recorded:
            result.addError(test, (type(error), error, None))  # type: ignore[arg-type]  # never raised, so no traceback; unittest takes None
        result.stopTest(test)


def _ends_in_do_cleanups(cls: type[unittest.TestCase]) -> bool:
    """True unless the class replaces ``doCleanups`` with one that does not end the test."""
    return getattr(cls.doCleanups, "arunner_original", None) is not None


def _undo_end_test() -> None:
    original = getattr(unittest.TestCase.doCleanups, "arunner_original", None)
    if original is not None:
        unittest.TestCase.doCleanups = original  # type: ignore[method-assign]  # puts back what __enter__ wrapped


def _run_class_hook(func: Any, cls: type) -> Any:
    context = RunContext.active
    if context is None:
        raise RuntimeError(
            f"{cls.__qualname__}.{func.__name__} is a coroutine; it runs only under arunner"
        )
    return context.class_bridge().run(func(cls))


def _make_class_hook_sync(cls: type, name: str) -> Callable[[], None] | None:
    """Let Django's sync ``setUpClass`` await an ``async def setUpTestData`` classmethod.

    It then runs inside the class atomic, on the class's loop, like any async hook. Returns
    what puts the user's class back as it was (None when nothing was replaced): the end of
    the run calls it.
    """
    bound = getattr(cls, name)
    if not inspect.iscoroutinefunction(bound):
        return None
    func = bound.__func__
    missing = object()
    own = vars(cls).get(name, missing)

    def hook(klass: type) -> Any:
        return _run_class_hook(func, klass)

    def undo() -> None:
        if own is missing:
            delattr(cls, name)
        else:
            setattr(cls, name, own)

    hook.__name__ = name
    setattr(cls, name, classmethod(hook))
    return undo
