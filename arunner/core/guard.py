"""``Guard``: what a per-test feature implements, so the suite loops over its features instead
of knowing each.

A run's context (``suite.runcontext``) installs its guards in the order they are registered
(``suite.guards.for_run``) and uninstalls them in reverse; before each test it begins them in
that order, and at the test's end it ends them in reverse, each one even when another failed.
What ``begin`` returns is handed back to ``end``: a guard keeps no per-test state of its own,
so a suite run inside a test does not replace the outer test's.
"""

from __future__ import annotations

import unittest
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from arunner.core import inventory

__unittest = True


@dataclass(frozen=True, slots=True)
class TestPlan:
    """What the suite decided about one test, for the guards to act on."""

    #: The test method's function (where ``@arunner.timeout`` marks sit).
    function: Any
    #: Whether the test's phases run in a session on arunner's loop (``suite.testcase``).
    coroutine: bool
    #: Whether the test's test method itself is a coroutine function.
    coroutine_method: bool
    #: Whether the test's writes are rolled back, so nothing may commit beside them.
    holds_atomic: bool
    #: The test databases the test uses (aliases), sorted.
    databases: tuple[str, ...]
    #: The aliases arunner opens atomics on for a unittest coroutine test (None: none).
    rollback_aliases: frozenset[str] | None
    #: Whether this is the first test of its class (or the first after another class's).
    new_class: bool
    #: The end of the test when it runs as a cleanup of its own (None: after the cleanups,
    #: from ``doCleanups``): a coroutine test's hooks run it on the test's thread.
    end_cleanup: Callable[[], None] | None


class Guard(Protocol):
    """One per-test feature of a run."""

    def install(self) -> None:
        """Before the run's first test."""

    def begin(self, test: unittest.TestCase, plan: TestPlan) -> Any:
        """Before the test (and its class set-up); returns what ``end`` needs."""

    def end(self, test: unittest.TestCase, begun: Any) -> None:
        """After the test's own cleanups, with what ``begin`` returned: raises what fails
        the test."""

    def uninstall(self) -> None:
        """After the run's last test; runs even when another guard's uninstall failed."""


def record_failure(test: unittest.TestCase, error: BaseException) -> None:
    """Record ``error`` against ``test`` as unittest records a failing cleanup's, so the
    test's end goes on; outside ``run`` (``debug()``) nothing records it: it is raised."""
    part = inventory.test_part(test)
    if part is None:
        raise error
    with part:
        raise error
