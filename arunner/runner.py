"""``AsyncDiscoverRunner``: Django's ``DiscoverRunner`` with arunner's suite and options.

Every DiscoverRunner option and constructor keyword keeps its meaning; arunner adds its own
options (``arunner.options``) and a closing ``N passed, N failed, N skipped`` line.
"""

from __future__ import annotations

import atexit
import sys
import unittest
from typing import Any

from django.core.management.base import CommandError
from django.test import SimpleTestCase
from django.test.runner import DiscoverRunner
from django.test.utils import TimeKeeper, iter_test_cases

from . import options, reporting, testcase
from .suite import AsyncTestSuite


class AsyncDiscoverRunner(DiscoverRunner):
    """A drop-in ``TEST_RUNNER`` that runs coroutine tests isolated, drained and fast."""

    test_suite = AsyncTestSuite

    def __init__(
        self,
        *args: Any,
        executor: str | None = None,
        loop_scope: str | None = None,
        task_grace: float | str | None = None,
        db_threads: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        given = {
            "executor": executor,
            "loop_scope": loop_scope,
            "task_grace": task_grace,
            "db_threads": db_threads,
        }
        try:
            values = options.resolve(given)
        except options.OptionError as exc:
            raise CommandError(str(exc)) from None
        self.executor: str = values["executor"]
        self.loop_scope: str = values["loop_scope"]
        self.task_grace: float = values["task_grace"]
        self.db_threads: str = values["db_threads"]
        self._test_aliases: frozenset[str] = frozenset()
        self._result: unittest.TestResult | None = None

    @classmethod
    def add_arguments(cls, parser: Any) -> None:
        super().add_arguments(parser)
        options.add_arguments(parser)

    def get_databases(self, suite: unittest.TestSuite) -> dict[str, bool]:
        """Also set up the databases that unittest coroutine tests use (default: default).

        Django skips test-database setup for classes with no ``databases``; a run of only
        ``IsolatedAsyncioTestCase`` tests would then write to the real database.
        """
        databases = super().get_databases(suite)
        for test in iter_test_cases(suite):
            if not isinstance(test, SimpleTestCase) and testcase.is_coroutine_test(test):
                for alias in testcase.test_databases(test):
                    databases.setdefault(alias, False)
        self._test_aliases = frozenset(databases)
        return databases

    def run_config(self) -> options.RunConfig:
        return options.RunConfig(
            executor=self.executor,
            loop_scope=self.loop_scope,
            task_grace=self.task_grace,
            db_threads=self.db_threads,
            test_aliases=self._test_aliases,
        )

    def run_suite(self, suite: unittest.TestSuite, **kwargs: Any) -> unittest.TestResult:
        config = self.run_config()
        for subsuite in getattr(suite, "subsuites", None) or [suite]:
            subsuite.arunner_config = config  # type: ignore[attr-defined]
        self._result = super().run_suite(suite, **kwargs)
        return self._result

    def run_tests(self, test_labels: Any, **kwargs: Any) -> int:
        failures = super().run_tests(test_labels, **kwargs)
        if self._result is not None:
            self._close_run(self._result)
        return failures

    def _close_run(self, result: unittest.TestResult) -> None:
        """Write the closing line last: with ``--timing``, ``manage.py test`` prints its
        "Total run took" line after ``run_tests`` returns, so the line waits for exit."""
        sys.stdout.flush()
        if isinstance(self.time_keeper, TimeKeeper):
            atexit.register(reporting.write_closing_line, result, sys.stderr)
        else:
            reporting.write_closing_line(result, sys.stderr)
