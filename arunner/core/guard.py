"""``Guard``: what a per-test feature implements, so the suite loops over its features instead
of knowing each.

A run's context (``suite.runcontext``) installs its features in the order they are registered
(``suite.guards.for_run``) and uninstalls them in reverse. A feature that holds for the whole
run (``RunFeature``) stops there; a ``Guard`` also takes part in tests. Once per class and kind
of test (sync or coroutine) the suite makes a ``TestPlan`` and asks each guard to ``prepare``
for it: a guard that takes no part in those tests says so then, and the loop over a test's
guards leaves it out; one that does keeps what it decided for the class in what it returns.
Before each test the suite begins the guards that take part, in order, and at the test's end
ends them in reverse, each one even when another failed. What ``begin`` returns is handed back
to ``end``: a guard keeps no per-test state of its own, so a suite run inside a test does not
replace the outer test's.
"""

from __future__ import annotations

import unittest
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from arunner.core import inventory

__unittest = True


@dataclass(frozen=True, slots=True)
class TestPlan:
    """What the suite decided about the tests of one class and kind (sync or coroutine): made
    once per class for each kind its tests have, never per test."""

    #: The test class.
    test_class: type[unittest.TestCase]
    #: Whether the tests' phases run in a session on arunner's loop (``suite.testcase``).
    coroutine: bool
    #: Whether the tests' writes are rolled back, so nothing may commit beside them.
    holds_atomic: bool
    #: The test databases the tests use (aliases), sorted.
    databases: tuple[str, ...]
    #: The aliases arunner opens atomics on for a unittest coroutine test (None: none).
    rollback_aliases: frozenset[str] | None
    #: The end of a test when it runs as a cleanup of its own, registered with the test as
    #: its argument (None: the end comes after the cleanups, from ``doCleanups``): a coroutine
    #: test's hooks run it on the test's thread.
    end_cleanup: Callable[[unittest.TestCase], None] | None


class RunFeature(Protocol):
    """What a run installs before its first test and uninstalls after its last."""

    def install(self) -> None:
        """Before the run's first test."""

    def uninstall(self) -> None:
        """After the run's last test; runs even when another feature's uninstall failed."""


@runtime_checkable
class Guard(RunFeature, Protocol):
    """One per-test feature of a run."""

    def prepare(self, plan: TestPlan) -> Any:
        """Once per plan, before its first test: what ``begin`` needs for the plan's tests,
        or None when the guard takes no part in them (then neither ``begin`` nor ``end``
        is called for them)."""

    def begin(self, test: unittest.TestCase, prepared: Any) -> Any:
        """Before the test (and its class set-up), with what ``prepare`` returned for its
        plan; returns what ``end`` needs."""

    def end(self, test: unittest.TestCase, begun: Any) -> None:
        """After the test's own cleanups, with what ``begin`` returned: raises what fails
        the test."""


def method_function(test: unittest.TestCase) -> Any:
    """The function of the test's method, as its class defines it (None when it has none):
    where ``@arunner.timeout`` and unittest's marks sit."""
    return getattr(type(test), inventory.test_method_name(test), None)


def record_failure(test: unittest.TestCase, error: BaseException) -> None:
    """Record ``error`` against ``test`` as unittest records a failing cleanup's, so the
    test's end goes on; outside ``run`` (``debug()``) nothing records it: it is raised."""
    part = inventory.test_part(test)
    if part is None:
        raise error
    with part:
        raise error
