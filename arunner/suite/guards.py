"""The per-test features of a run, registered in one list.

Each one is a ``core.guard.Guard``: ``RunContext`` installs them in this order and begins
them before each test in this order; it ends them after the test, and uninstalls them after
the run, in reverse. A new per-test feature is one module with one class that implements
``Guard``, and one line here (``--reruns``, which runs the test itself again, is not one:
``suite.reruns``).
"""

from __future__ import annotations

import unittest
from collections.abc import Callable
from typing import Any, Protocol

from arunner.core.bridges import Bridge
from arunner.core.drain import ThreadWatch
from arunner.core.guard import Guard
from arunner.core.options import RunConfig
from arunner.guards.diagnostics import TestDiagnostics
from arunner.guards.isolation import ConnectionProtection
from arunner.guards.threadguard import ThreadGuard
from arunner.parallel import workers
from arunner.report import closingline
from arunner.suite.queryassertions import QueryAssertionsGuard
from arunner.suite.testcase import CoroutineTests, SessionOpener
from arunner.timeouts.emergency import EmergencyEnd
from arunner.timeouts.watchdog import Armed, TimeLimits

__unittest = True


class Sessions(SessionOpener, Protocol):
    """What the guards need of the run's coroutine test sessions (``RunContext`` owns them)."""

    def running_bridge(self) -> Bridge | None: ...

    def cancel_session(self, armed: Armed) -> None: ...

    def where(self) -> tuple[Any, Any]: ...


def for_run(
    config: RunConfig, result: unittest.TestResult, sessions: Sessions, threads: ThreadWatch
) -> list[Guard]:
    """The guards of one run: ``threads`` is the run's thread watch, which the thread guard
    and the sessions share."""
    emergency = EmergencyEnd(
        result, config.test_aliases, config.keepdb, closingline.counts, _hand_over(result)
    )
    return [
        ConnectionProtection(config.test_aliases, not config.compat),
        ThreadGuard(config.test_aliases, threads, config.compat, config.db_threads),
        threads,
        TestDiagnostics(config.strict, config.asyncio_debug),
        TimeLimits(config.timeout, emergency, sessions.cancel_session, sessions.where),
        QueryAssertionsGuard(sessions.running_bridge),
        CoroutineTests(sessions),
    ]


def _hand_over(result: unittest.TestResult) -> Callable[[Armed], None] | None:
    """In a ``--parallel`` worker: what tells the parent the test the worker could not stop."""
    if not workers.in_worker():
        return None

    def hand_over(armed: Armed) -> None:
        workers.leave_note(armed.test_id, armed.report or "", result)

    return hand_over
