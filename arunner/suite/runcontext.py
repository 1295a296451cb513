"""What one run of the suite owns (loops per scope, guards and watchdog per run), and the
per-test preparation that composes the features around every test.

A run's context is made where its tests run (``testsuite``: inside each ``--parallel``
worker too), so everything that owns a thread or a loop is made there, never in the parent
before the workers fork.
"""

from __future__ import annotations

import contextlib
import inspect
import unittest
from collections.abc import Callable
from typing import Any, ClassVar

from django.test import TestCase

from arunner.core.bridges import Bridge, Bridges
from arunner.core.drain import ThreadWatch
from arunner.core.guard import Guard, TestPlan, method_function, record_failure
from arunner.core.options import RunConfig
from arunner.core.phases import TestSession
from arunner.guards import isolation, threadguard, threadscope
from arunner.suite import guards, testcase
from arunner.timeouts import watchdog

__unittest = True


#: The instance attribute that holds what the end of a test takes care of, from
#: ``before_test`` to that end: each guard that takes part with what its ``begin`` returned.
#: Kept with the test, so a suite run inside a test does not replace it.
_ENDING = "_arunner_ending"

_Ending = list[tuple[Guard, Any]]

#: The guards that take part in the tests of one plan, each with what its ``prepare`` returned.
_Taking = tuple[tuple[Guard, Any], ...]


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
        #: ``TestCase.debug`` pops cleanups itself, without ``doCleanups``.
        self.debug = debug
        self.bridges = Bridges(config.executor, config.loop, config.asyncio_debug)
        self.threads = ThreadWatch()
        self.features = guards.for_run(config, result, self, self.threads)
        self.guards = [feature for feature in self.features if isinstance(feature, Guard)]
        self._uninstall = contextlib.ExitStack()
        self._class: type | None = None
        #: What puts back the user classes whose async ``setUpTestData`` this run made sync.
        self._class_hooks: list[Callable[[], None]] = []
        self._class_bridge: Bridge | None = None
        self._test_bridge: Bridge | None = None
        #: The session of the coroutine test in progress (made as it begins, started by its
        #: set-up): what a timeout cancels and a hang report shows.
        self._session: TestSession | None = None
        #: Per class, for its sync and its coroutine tests (indexed by ``coroutine``): the
        #: guards that take part, found on the first test of each kind (``_prepare``).
        self._taking: list[_Taking | None] = [None, None]
        #: Per class, what ``_prepare`` puts in its plans.
        self._end_cleanup: Callable[[unittest.TestCase], None] | None = None
        self._rollback_aliases: frozenset[str] | None = None
        self._databases: tuple[str, ...] = ()
        self._loop_per_test = False
        #: ``has_async_phases`` of the class: then even its sync test methods are coroutine tests.
        self._async_phases = False

    def __enter__(self) -> RunContext:
        try:
            for feature in self.features:
                feature.install()
                self._uninstall.callback(feature.uninstall)
        except BaseException:
            self._uninstall.close()
            raise
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
                self._uninstall.close()
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
        coroutine = self._async_phases or testcase.is_coroutine_function(method_function(test))
        self._session = None
        taking = self._taking[coroutine]
        if taking is None:
            taking = self._prepare(test, coroutine)
        ending: _Ending = [(guard, guard.begin(test, prepared)) for guard, prepared in taking]
        vars(test)[_ENDING] = ending
        end = self._end_cleanup
        if end is not None:
            test.addCleanup(end, test)

    def _enter_class(self, test: unittest.TestCase) -> None:
        """The first test of a class (or the first after another class's tests): what
        depends only on the class is decided here, once."""
        if self.config.loop_scope != "run":
            self._close_class_bridge()
        cls = self._class = type(test)
        self._taking = [None, None]
        self._async_phases = testcase.has_async_phases(cls)  # type: ignore[arg-type]  # classes are hashable: mypy#11470
        ends_after_cleanups = not self.debug and _ends_in_do_cleanups(cls)
        self._end_cleanup = None if ends_after_cleanups else self.end_test
        if issubclass(cls, TestCase):
            undo = _make_class_hook_sync(cls, "setUpTestData")
            if undo is not None:
                self._class_hooks.append(undo)
        config = self.config
        aliases = testcase.test_databases(test) & config.test_aliases
        self._databases = tuple(sorted(aliases))
        self._rollback_aliases = None
        if testcase.needs_own_rollback(test) and not config.compat:
            self._rollback_aliases = isolation.with_database(aliases)
        self._loop_per_test = testcase.is_isolated_asyncio(test) or config.loop_scope == "test"

    def _prepare(self, test: unittest.TestCase, coroutine: bool) -> _Taking:
        """The plan of the class's sync or coroutine tests, made on the first test of that
        kind, and the guards that take part in them."""
        # A unittest coroutine test holds a transaction only when arunner opens one for it.
        holds_atomic = testcase.holds_atomic(test, coroutine and bool(self._rollback_aliases))
        plan = TestPlan(
            type(test),
            coroutine,
            holds_atomic,
            self._databases,
            self._rollback_aliases,
            self._end_cleanup,
        )
        prepared = [(guard, guard.prepare(plan)) for guard in self.guards]
        taking = tuple((guard, each) for guard, each in prepared if each is not None)
        self._taking[coroutine] = taking
        return taking

    def end_test(self, test: unittest.TestCase) -> None:
        """After the test's own cleanups: each guard's end, in reverse (a coroutine test's
        drain and rollback first, then its time limit, what it triggered, the connections
        its threads used). Each one runs even when another fails; a failure is recorded
        against the test, and one nothing can record (``debug()``) is raised at the end."""
        ending: _Ending | None = vars(test).pop(_ENDING, None)
        if ending is None:
            return
        unrecorded: BaseException | None = None
        for guard, begun in reversed(ending):
            try:
                guard.end(test, begun)
            except BaseException as exc:
                try:
                    record_failure(test, exc)
                except BaseException as error:
                    unrecorded = unrecorded or error
        if unrecorded is not None:
            raise unrecorded

    def new_session(self, test: unittest.TestCase) -> TestSession:
        """The session of a coroutine test, made as the test begins; it takes its loop (its
        class's, or one of its own) only when its set-up starts it (``session_bridge``)."""
        session = self._session = TestSession(
            self.session_bridge,
            test,
            self.config.task_grace,
            self.threads,
            self.config.strict_tasks,
            at_stake=threadguard.running_test_at_stake,
            disown=threadscope.disown,
        )
        return session

    def session_bridge(self) -> Bridge:
        """Where a coroutine test's session runs, asked for as it starts: its class's loop,
        or a loop of its own that the next test's ``before_test`` closes."""
        if self._loop_per_test:
            bridge = self._test_bridge = self.bridges.new()
            return bridge
        return self._class_bridge or self.class_bridge()

    def running_bridge(self) -> Bridge | None:
        """The bridge of the coroutine test in progress: where its query assertions reach
        the test's thread."""
        session = self._session
        return None if session is None or not session.running else session.bridge

    def cancel_session(self, armed: watchdog.Armed) -> None:
        """The watchdog's cancel: the coroutine test in progress, if any, stops its phase."""
        session = self._session
        if session is not None and session.running:
            session.cancel_for_timeout(armed)

    def where(self) -> tuple[Any, Any]:
        """The loop and the task of the coroutine test in progress, for a hang report."""
        session = self._session
        if session is None or not session.started:
            return None, None
        return session.bridge.loop, session.task

    def class_bridge(self) -> Bridge:
        if self._class_bridge is None:
            self._class_bridge = self.bridges.new()
        return self._class_bridge

    def _close_test_bridge(self) -> None:
        if self._test_bridge is not None:
            bridge, self._test_bridge = self._test_bridge, None
            bridge.close()

    def _close_class_bridge(self) -> None:
        if self._class_bridge is not None:
            bridge, self._class_bridge = self._class_bridge, None
            bridge.close()


def guards_ended(test: unittest.TestCase) -> bool:
    """Whether the end of the test ran (``end_test``): not when Django's ``_pre_setup``
    failed, so that unittest never ran the test."""
    return _ENDING not in vars(test)


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
