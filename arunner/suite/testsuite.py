"""``AsyncTestSuite``: the suite class Django's runner builds, which opens the run's
``RunContext`` (``runcontext``) around its tests.

``DiscoverRunner`` builds subsuites for ``--parallel`` workers with ``type(suite)``, so this
class's ``run`` also runs inside each worker; everything that owns a thread or a loop is made
there, lazily, never in the parent before the workers fork.
"""

from __future__ import annotations

import unittest
from collections.abc import Iterable
from typing import Any

from django.db import connections
from django.test.utils import iter_test_cases

from arunner.core import inventory
from arunner.core.options import RunConfig, resolve, run_config
from arunner.suite import reruns, testcase
from arunner.suite.runcontext import RunContext

__unittest = True


def _default_config() -> RunConfig:
    """For a suite run outside ``AsyncDiscoverRunner``: options from the environment."""
    return run_config(resolve({}), test_aliases=frozenset(connections))


class AsyncTestSuite(unittest.TestSuite):
    """A ``TestSuite`` whose tests run under a ``RunContext``, with the run settings it is
    made with (from the environment when made without: a suite run outside the runner)."""

    def __init__(self, tests: Iterable[Any] = (), config: RunConfig | None = None) -> None:
        super().__init__(tests)
        self.config = config

    def with_config(self, config: RunConfig) -> AsyncTestSuite:
        """This suite's tests, to run with ``config``. They move to the new suite, so that
        each one is freed once it ran (unittest lets go of a suite's finished tests), rather
        than held by this one until the run ends."""
        suite = type(self)(config=config)
        suite._tests, self._tests = self._tests, []
        return suite

    def run(self, result: unittest.TestResult, debug: bool = False) -> unittest.TestResult:
        if RunContext.active is not None:
            return super().run(result, debug)
        if any(isinstance(test, unittest.TestSuite) for test in self._tests):
            self._tests = list(iter_test_cases(self))
        config = self.config or _default_config()
        with RunContext(config, result, debug) as context:
            self._tests = reruns.wrap(self._tests, config, context)
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
            context.before_test(reruns.unwrapped(test))
        inventory.handle_class_setup(self, test, result)
