"""The features of a run, registered in one list.

``RunContext`` installs them in this order and uninstalls them after the run in reverse. Each
per-test one is a ``core.guard.Guard``: once per class and kind of test it says whether it
takes part (``prepare``), and ``RunContext`` begins those that do before each test in this
order and ends them after it in reverse. A new per-test feature is one module with one class
that implements ``Guard``, and one line here (``--reruns``, which runs the test itself again,
is not one: ``suite.reruns``).
"""

from __future__ import annotations

import unittest
from collections.abc import Callable
from typing import Any, Protocol

from arunner.core.bridges import Bridge
from arunner.core.drain import ThreadWatch
from arunner.core.guard import RunFeature
from arunner.core.options import RunConfig
from arunner.core.phases import TestSession
from arunner.guards.diagnostics import TestDiagnostics
from arunner.guards.isolation import ConnectionProtection
from arunner.guards.threadguard import ThreadGuard
from arunner.parallel import workers
from arunner.report import closingline
from arunner.suite.queryassertions import QueryAssertionsGuard
from arunner.suite.testcase import CoroutineTests
from arunner.timeouts.emergency import EmergencyEnd
from arunner.timeouts.watchdog import Armed, TimeLimits

__unittest = True


class Sessions(Protocol):
    """What the guards need of the run's coroutine test sessions (``RunContext`` owns them)."""

    def new_session(self, test: unittest.TestCase) -> TestSession: ...

    def running_bridge(self) -> Bridge | None: ...

    def cancel_session(self, armed: Armed) -> None: ...

    def where(self) -> tuple[Any, Any]: ...


def for_run(
    config: RunConfig, result: unittest.TestResult, sessions: Sessions, threads: ThreadWatch
) -> list[RunFeature]:
    """The features of one run, its guards among them (``ConnectionProtection`` and the
    thread watch hold for the whole run and take part in no test): ``threads`` is the run's
    thread watch, which the thread guard and the sessions share."""
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
        CoroutineTests(sessions.new_session),
    ]


def _hand_over(result: unittest.TestResult) -> Callable[[Armed], None] | None:
    """In a ``--parallel`` worker: what tells the parent the test the worker could not stop."""
    if not workers.in_worker():
        return None

    def hand_over(armed: Armed) -> None:
        workers.leave_note(armed.test_id, armed.report or "", result)

    return hand_over
