"""The test suite arunner runs: per-test preparation, loops per scope, guards per run.

``DiscoverRunner`` builds subsuites for ``--parallel`` workers with ``type(suite)``, so this
class's ``run`` also runs inside each worker; everything that owns a thread or a loop is made
there, lazily, never in the parent before the workers fork.
"""

from __future__ import annotations

import inspect
import sys
import unittest
from typing import Any, ClassVar

from django.db import connections
from django.test import TestCase
from django.test.utils import iter_test_cases

from . import escapes, inlinecalls, inventory, isolation, reporting, testcase, timeouts, workers
from .diagnostics import TestDiagnostics
from .escapes import ThreadGuard
from .loop import Bridge, Bridges
from .options import RunConfig, resolve, run_config
from .pending import ThreadWatch
from .session import TestSession

__unittest = True


def _run_class_hook(func: Any, cls: type) -> Any:
    context = RunContext.active
    if context is None:
        raise RuntimeError(
            f"{cls.__qualname__}.{func.__name__} is a coroutine; it runs only under arunner"
        )
    return context.class_bridge().run(func(cls))


def _make_class_hook_sync(cls: type, name: str) -> None:
    """Let Django's sync ``setUpClass`` await an ``async def setUpTestData`` classmethod.

    It then runs inside the class atomic, on the class's loop, like any async hook.
    """
    bound = getattr(cls, name)
    if not inspect.iscoroutinefunction(bound):
        return
    func = bound.__func__

    def hook(klass: type) -> Any:
        return _run_class_hook(func, klass)

    hook.__name__ = name
    setattr(cls, name, classmethod(hook))


class RunContext:
    """Everything one run of a suite owns: loops, the executor, the guards."""

    active: ClassVar[RunContext | None] = None

    def __init__(self, config: RunConfig, result: unittest.TestResult) -> None:
        self.config = config
        self.result = result
        self.bridges = Bridges(config.executor, config.loop, config.asyncio_debug)
        self.threads = ThreadWatch()
        self.guard = ThreadGuard(config.test_aliases, self.threads)
        self.protection = isolation.ConnectionProtection(config.test_aliases)
        self.watchdog = timeouts.Watchdog(self._end_run)
        self.diagnostics = TestDiagnostics(config.strict, config.asyncio_debug)
        self._class: type | None = None
        self._class_bridge: Bridge | None = None
        self._test_bridge: Bridge | None = None
        self._session: TestSession | None = None
        self._inline_calls: inlinecalls.Installed | None = None

    def __enter__(self) -> RunContext:
        self.protection.install()
        self.guard.install()
        self.threads.install()
        self.watchdog.install()
        self.diagnostics.install()
        if self.config.executor == "inline":
            self._inline_calls = inlinecalls.Installed()
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
                escapes.refuse_strays(self.threads.alive())
                self.diagnostics.uninstall()
                self.watchdog.uninstall()
                self.threads.uninstall()
                self.guard.uninstall()
                self.protection.uninstall()
        finally:
            if self._inline_calls is not None:
                self._inline_calls.undo()
                self._inline_calls = None

    def before_test(self, test: unittest.TestCase) -> None:
        """Prepare one test; runs before its class set-up, right before the test itself."""
        self._close_test_bridge()
        cls = type(test)
        if cls is not self._class:
            if self.config.loop_scope != "run":
                self._close_class_bridge()
            self._class = cls
            if issubclass(cls, TestCase):
                _make_class_hook_sync(cls, "setUpTestData")
        test_id = test.id()
        scope = self.guard.begin(
            test, open=not testcase.holds_atomic(test), mode=self.config.db_threads, test_id=test_id
        )
        self.diagnostics.begin(test_id)
        hooks = self._phase_hooks(test) if testcase.is_coroutine_test(test) else None
        test.addCleanup(self._after_test, scope, hooks)
        self._session = None
        limit = timeouts.limit_for(test, self.config.timeout)
        if limit > 0:
            self._time_limit(test, test_id, limit)
        if hooks is not None:
            hooks.install()

    def _phase_hooks(self, test: unittest.TestCase) -> testcase.PhaseHooks:
        atomics = None
        if testcase.needs_own_rollback(test):
            aliases = testcase.test_databases(test) & self.config.test_aliases
            atomics = lambda: isolation.enter_atomics(aliases)  # noqa: E731
        return testcase.PhaseHooks(test, lambda: self._open_session(test), atomics)

    def _after_test(self, scope: Any, hooks: testcase.PhaseHooks | None) -> None:
        """The test's last cleanup: what it triggered, the connections its threads used, and
        the phase hooks on the instance."""
        try:
            self.diagnostics.end()
        finally:
            try:
                self.guard.end(scope)
            finally:
                if hooks is not None:
                    hooks.uninstall()

    def _time_limit(self, test: unittest.TestCase, test_id: str, seconds: float) -> None:
        """Arm the watchdog when the test starts running (after its class set-up) and check
        it in the test's last cleanup."""
        aliases = testcase.test_databases(test) & self.config.test_aliases
        wrappers = [connections[alias] for alias in sorted(aliases)]
        armed = timeouts.Armed(test_id, seconds, wrappers, self._cancel_session, self._where)
        run = test.run

        def run_with_limit(result: Any = None) -> Any:
            timeouts.start(armed, result)
            self.watchdog.arm(armed)
            try:
                return run(result)
            finally:
                self.watchdog.disarm()

        test.run = run_with_limit  # type: ignore[method-assign]
        test.addCleanup(self.watchdog.check, armed)

    def _cancel_session(self, armed: timeouts.Armed) -> None:
        session = self._session
        if session is not None and not session.finished:
            session.cancel_for_timeout(armed)

    def _where(self) -> tuple[Any, Any]:
        session = self._session
        if session is None:
            return None, None
        return session.bridge.loop, session.task

    def _end_run(self, armed: timeouts.Armed) -> None:
        """The watchdog's last resort: the test cannot be stopped. Count it, clean up, exit."""
        if workers.in_worker():

            def hand_over() -> None:
                workers.leave_note(armed.test_id, armed.report or "", self.result)

            ending = "this --parallel worker; the run goes on"
            timeouts.end_run(armed.report or "", hand_over, ending)
            return
        passed, failed, skipped = reporting.counts(self.result)
        recorded = {test.id() for test, *_ in (*self.result.errors, *self.result.failures)}
        if armed.test_id not in recorded:
            passed, failed = max(0, passed - 1), failed + 1
        line = f"{passed} passed, {failed} failed, {skipped} skipped"
        wrappers = [connections[alias] for alias in sorted(self.config.test_aliases)]

        def finish() -> None:
            timeouts.drop_test_databases(wrappers, self.config.keepdb)
            sys.stderr.write(f"\nRan {self.result.testsRun} tests\n\nFAILED\n\n{line}\n")

        timeouts.end_run(armed.report or "", finish)

    def class_bridge(self) -> Bridge:
        if self._class_bridge is None:
            self._class_bridge = self.bridges.new()
        return self._class_bridge

    def _open_session(self, test: unittest.TestCase) -> TestSession:
        if testcase.is_isolated_asyncio(test) or self.config.loop_scope == "test":
            self._test_bridge = self.bridges.new()
            bridge = self._test_bridge
        else:
            bridge = self.class_bridge()
        self._session = TestSession(
            bridge, test.id(), self.config.task_grace, self.threads, self.config.strict_tasks
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


def _default_config() -> RunConfig:
    """For a suite run outside ``AsyncDiscoverRunner``: options from the environment."""
    return run_config(resolve({}), test_aliases=frozenset(connections))


class AsyncTestSuite(unittest.TestSuite):
    """A ``TestSuite`` whose tests run under a ``RunContext``."""

    arunner_config: RunConfig | None = None

    def run(self, result: unittest.TestResult, debug: bool = False) -> unittest.TestResult:
        if RunContext.active is not None:
            return super().run(result, debug)
        if any(isinstance(test, unittest.TestSuite) for test in self._tests):
            self._tests = list(iter_test_cases(self))
        with RunContext(self.arunner_config or _default_config(), result):
            return super().run(result, debug)

    def __getstate__(self) -> dict[str, Any]:
        """Let ``--parallel`` send ``IsolatedAsyncioTestCase`` tests to workers: the
        ``contextvars.Context`` each one holds cannot be pickled, and arunner's sessions
        replace it anyway."""
        for test in self._tests:
            if testcase.is_isolated_asyncio(test):
                inventory.drop_asyncio_test_context(test)
        return self.__dict__

    def _handleClassSetUp(self, test: Any, result: unittest.TestResult) -> None:
        context = RunContext.active
        if context is not None:
            context.before_test(test)
        inventory.handle_class_setup(self, test, result)
