"""Per-test time limits, enforced by a watchdog thread.

A hung test may have blocked the very thread that would notice: the loop stuck in
``time.sleep``, the test's thread stuck in a lock or a query. So the supervisor is a daemon
thread of its own, not a loop callback and not a parent process: a thread can still read every
stack, cancel the query, and interrupt the test's thread with a signal, while the run keeps
its state (results, reports, database handles) to finish cleanly. A parent process could only
kill, losing the JUnit report and leaving the test databases behind.

When a test passes its deadline the watchdog, in order:

1. takes the report: the test's task, every other pending task, every thread;
2. cancels the query the test's connections are running;
3. cancels the test's current phase on its loop (coroutine tests);
4. after ``ESCALATE`` seconds, interrupts the test's thread with ``SIGNAL``, whose handler
   raises ``TestTimeoutError`` wherever that thread is (``time.sleep``, a lock, the loop);
5. after ``GIVE_UP`` more seconds, terminates its database sessions and ends the run
   (``emergency``).

``TimeLimits`` is the run's guard (``core.guard``): it arms the watchdog for each test that
has a limit, and checks the limit at the test's end. It takes part only in the classes where
a limit may apply (the run's, the class's, or one that ``@timeout`` gave a test method), so a
run without limits pays nothing for them per test.
"""

from __future__ import annotations

import signal
import sys
import threading
import time
import unittest
from collections.abc import Callable
from typing import Any, NamedTuple

from django.db import connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.backends.signals import connection_created

from arunner.core.errors import TestTimeoutError
from arunner.core.guard import TestPlan, method_function
from arunner.timeouts import dbinterrupt, stacks

__unittest = True

ESCALATE = 1.0
GIVE_UP = 3.0
SIGNAL = signal.SIGUSR2


#: Whether ``timeout`` gave any function a limit of its own (set as test modules import).
_methods_marked = False


def timeout(seconds: float) -> Callable[[Any], Any]:
    """Decorate a test method (or class) to give it its own limit, in seconds."""

    def mark(target: Any) -> Any:
        global _methods_marked
        target.arunner_timeout = seconds
        if not isinstance(target, type):
            _methods_marked = True
        return target

    return mark


def class_limit(cls: type, default: float) -> float:
    """The class's ``arunner_timeout``, else the run's."""
    value = getattr(cls, "arunner_timeout", None)
    return default if value is None else float(value)


def limit_for(function: Any, class_default: float) -> float:
    """The ``@timeout`` of the test method's function, else ``class_limit``'s answer for its
    class."""
    value = getattr(function, "arunner_timeout", None)
    return class_default if value is None else float(value)


class Armed:
    """One test's deadline and what the watchdog may do about it."""

    def __init__(
        self,
        test_id: str,
        seconds: float,
        connections: list[BaseDatabaseWrapper],
        cancel: Callable[[Armed], None],
        where: Callable[[], tuple[Any, Any]],
    ) -> None:
        self.test_id = test_id
        self.seconds = seconds
        self.deadline = time.monotonic() + seconds
        self.connections = connections
        self.cancel = cancel
        self.where = where
        self.report: str | None = None
        self.delivered = False
        self.result: Any = None
        self.problems_before = 0


class Watchdog:
    """The supervisor thread; armed by the test's thread for one test at a time."""

    def __init__(self, emergency: Callable[[Armed], None]) -> None:
        self._emergency = emergency
        self._condition = threading.Condition()
        self._armed: Armed | None = None
        self._thread: threading.Thread | None = None
        self._interrupting: Armed | None = None
        self._previous_handler: Any = None
        self._home = threading.get_ident()
        self._closed = False

    def install(self) -> None:
        connection_created.connect(dbinterrupt.remember_session, dispatch_uid="arunner-sessions")

    def _install_handler(self) -> None:
        """On the first test with a limit: a run without one keeps its SIGUSR2 handler."""
        if self._previous_handler is None and threading.current_thread() is threading.main_thread():
            self._previous_handler = signal.signal(SIGNAL, self._on_signal)

    def uninstall(self) -> None:
        """Also ends the thread: a ``--parallel`` worker makes a watchdog per batch."""
        connection_created.disconnect(dispatch_uid="arunner-sessions")
        with self._condition:
            self._armed = self._interrupting = None
            self._closed = True
            self._condition.notify()
        if self._previous_handler is not None:
            signal.signal(SIGNAL, self._previous_handler)
            self._previous_handler = None

    def arm(self, armed: Armed) -> None:
        self._install_handler()
        with self._condition:
            self._armed = armed
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._watch, name="arunner-watchdog", daemon=True
                )
                self._thread.start()
            self._condition.notify()

    def disarm(self) -> Armed | None:
        with self._condition:
            armed, self._armed = self._armed, None
            self._interrupting = None
            self._condition.notify()
        return armed

    def _watch(self) -> None:
        while True:
            with self._condition:
                while self._armed is None:
                    if self._closed:
                        return
                    self._condition.wait()
                armed = self._armed
                remaining = armed.deadline - time.monotonic()
                if remaining > 0:
                    self._condition.wait(remaining)
                    continue
            self._expire(armed)

    def _still(self, armed: Armed, seconds: float) -> bool:
        """Wait up to ``seconds`` for the test to end; True if it is still running."""
        with self._condition:
            self._condition.wait_for(lambda: self._armed is not armed, timeout=seconds)
            return self._armed is armed

    def _expire(self, armed: Armed) -> None:
        loop, task = armed.where()
        armed.report = stacks.report(armed.test_id, armed.seconds, loop, task)
        for connection in armed.connections:
            dbinterrupt.cancel_query(connection)
        armed.cancel(armed)
        if not self._still(armed, ESCALATE):
            return
        if self._previous_handler is not None:
            self._interrupting = armed
            signal.pthread_kill(self._home, SIGNAL)
        if not self._still(armed, GIVE_UP):
            return
        for connection in armed.connections:
            dbinterrupt.terminate(connection)
        self._emergency(armed)

    def _on_signal(self, signum: int, frame: Any) -> None:
        armed = self._interrupting
        if armed is None or armed is not self._armed:
            return
        self._interrupting = None
        armed.delivered = True
        raise TestTimeoutError(armed.report)

    def check(self, armed: Armed) -> None:
        """At the end of the test: fail it for the timeout if nothing else did.

        When the timeout surfaced as another error (a cancelled query raises the driver's
        own), the report is printed beside it rather than counted as a second error.
        """
        if self.disarm() is not armed or armed.report is None or armed.delivered:
            return
        if _problems(armed.result) > armed.problems_before:
            sys.stderr.write(f"\n{armed.report}\n")
            return
        raise TestTimeoutError(armed.report)


def _problems(result: Any) -> int:
    """Failures and errors so far; a ``--parallel`` worker's result keeps only events."""
    events = getattr(result, "events", None)
    if events is not None:
        return sum(1 for event in events if event[0] in ("addError", "addFailure"))
    return len(result.errors) + len(result.failures)


def start(armed: Armed, result: Any) -> None:
    """Start the clock, remembering how many problems the result held before the test."""
    armed.result = result
    armed.problems_before = _problems(result)
    armed.deadline = time.monotonic() + armed.seconds


class ClassLimit(NamedTuple):
    """What ``TimeLimits`` decides once per class: its limit, and the databases a query that
    outlives it is stopped on."""

    seconds: float
    databases: tuple[str, ...]


class TimeLimits:
    """The run's guard for time limits: ``--timeout`` and ``@timeout``, per test.

    ``cancel`` and ``where`` reach the session of the coroutine test in progress (the suite
    owns it); ``emergency`` ends the run when a test cannot be stopped (``emergency``).
    """

    def __init__(
        self,
        default: float,
        emergency: Callable[[Armed], None],
        cancel: Callable[[Armed], None],
        where: Callable[[], tuple[Any, Any]],
    ) -> None:
        self.default = default
        self.watchdog = Watchdog(emergency)
        self._cancel = cancel
        self._where = where

    def install(self) -> None:
        self.watchdog.install()

    def uninstall(self) -> None:
        self.watchdog.uninstall()

    def prepare(self, plan: TestPlan) -> ClassLimit | None:
        """The tests that may have a limit: the class's (or the run's), or, once ``@timeout``
        marked a test method, every test, whose method may carry one of its own."""
        seconds = class_limit(plan.test_class, self.default)
        if seconds <= 0 and not _methods_marked:
            return None
        return ClassLimit(seconds, plan.databases)

    def begin(self, test: unittest.TestCase, limit: ClassLimit) -> Armed | None:
        """Arm the watchdog when the test starts running (after its class set-up)."""
        seconds = limit_for(method_function(test), limit.seconds)
        if seconds <= 0:
            return None
        wrappers = [connections[alias] for alias in limit.databases]
        armed = Armed(test.id(), seconds, wrappers, self._cancel, self._where)
        run = test.run
        watchdog = self.watchdog

        def run_with_limit(result: Any = None) -> Any:
            start(armed, result)
            watchdog.arm(armed)
            try:
                return run(result)
            finally:
                watchdog.disarm()

        test.run = run_with_limit  # type: ignore[method-assign]  # this test instance only, for its run
        return armed

    def end(self, test: unittest.TestCase, armed: Armed | None) -> None:
        if armed is not None:
            self.watchdog.check(armed)
