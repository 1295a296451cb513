"""``AsyncDiscoverRunner``: Django's ``DiscoverRunner`` with arunner's suite and options.

Every DiscoverRunner option and constructor keyword keeps its meaning; arunner adds its own
options (``arunner.core.options``) and a closing ``N passed, N failed, N skipped`` line.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import logging
import sys
import unittest
from pathlib import Path
from typing import Any

from django.db import connections
from django.db.backends.signals import connection_created
from django.test import SimpleTestCase
from django.test.runner import DiscoverRunner
from django.test.utils import TimeKeeper, iter_test_cases

from arunner.core import options, optionvalues, termination
from arunner.core.errors import ConfigurationError
from arunner.guards import transactionend
from arunner.parallel import workers
from arunner.parallel.parent import AsyncParallelTestSuite, stop_workers
from arunner.report import (
    closingline,
    durations,
    flaky,
    ghannotations,
    lastfailed,
    model,
    reportfiles,
    terminal,
)
from arunner.runsetup import collection, dbcheck, labelsfile, selection, shard, testdbs, testlist
from arunner.suite import testcase
from arunner.suite.testsuite import AsyncTestSuite
from arunner.timeouts import dbinterrupt, emergency

#: The run's ``connection_created`` receiver that notes each session's server id, so a
#: stop can cancel a query of the main thread's (``dbinterrupt.canceller``).
_SESSIONS = "arunner-run-sessions"


class AsyncDiscoverRunner(DiscoverRunner):
    """A drop-in ``TEST_RUNNER`` that runs coroutine tests isolated, drained and fast."""

    test_suite = AsyncTestSuite
    parallel_test_suite = AsyncParallelTestSuite
    parallel: int  # DiscoverRunner's; --shard and --list set it too

    def __init__(
        self,
        *args: Any,
        executor: str | None = None,
        loop_scope: str | None = None,
        task_grace: float | str | None = None,
        db_threads: str | None = None,
        **kwargs: Any,
    ) -> None:
        own = {o.dest: kwargs.pop(o.dest, None) for o in options.OPTIONS}  # the newer options
        super().__init__(*args, **kwargs)
        given = {
            **own,
            "executor": executor,
            "loop_scope": loop_scope,
            "task_grace": task_grace,
            "db_threads": db_threads,
        }
        try:
            values = options.resolve(given)
            for option in options.CHECKED_DJANGO_OPTIONS:
                if getattr(self, option.dest) not in (None, option.default):
                    option.parse(getattr(self, option.dest), option.flag)
        except optionvalues.OptionError as exc:
            raise ConfigurationError(str(exc), hint=exc.hint) from None
        self.option_values = values
        self.executor: str = values["executor"]
        self.loop_scope: str = values["loop_scope"]
        self.task_grace: float = values["task_grace"]
        self.db_threads: str = values["db_threads"]
        self.junit_xml: str | None = values["junit_xml"]
        self.junit_family: str = values["junit_family"]
        self.durations_file: str | None = values["durations_file"]
        self.last_failed: bool = values["last_failed"]
        self.failed_first: bool = values["failed_first"]
        self.no_color: bool = bool(kwargs.get("no_color"))
        self.force_color: bool = bool(kwargs.get("force_color"))
        #: True after a run that Ctrl-C stopped (the ``arunner`` command then exits 130).
        self.interrupted = False
        self._explicit_labels: set[str] = set()
        self._rerun_labels: set[str] = set()
        self._last_failed: lastfailed.LastFailed | None = None
        self._flaky: flaky.FlakyTests | None = None
        self._reporters = model.Reporters(())
        self._total = 0
        self._records_locally = True
        self._test_aliases: frozenset[str] = frozenset()
        self._result: unittest.TestResult | None = None
        self._made_results: list[unittest.TestResult] = []
        self._stopper: termination.Stopper | None = None
        self._parallel_suite = False
        self._planned: list[testdbs.Planned] = []

    @classmethod
    def add_arguments(cls, parser: Any) -> None:
        super().add_arguments(parser)
        options.add_arguments(parser)
        durations.add_arguments(parser)

    def get_databases(self, suite: unittest.TestSuite) -> dict[str, bool]:
        """Also set up the databases that unittest coroutine tests use (default: default).

        Django skips test-database setup for classes with no ``databases``; a run of only
        ``IsolatedAsyncioTestCase`` tests would then write to the real database.
        """
        databases: dict[str, bool] = super().get_databases(suite)
        for test in iter_test_cases(suite):
            if not isinstance(test, SimpleTestCase) and testcase.is_coroutine_test(test):
                for alias in testcase.test_databases(test):
                    databases.setdefault(alias, False)
        self._test_aliases = frozenset(databases)
        return databases

    def build_suite(self, test_labels: Any = None, **kwargs: Any) -> unittest.TestSuite:
        """With ``--lf`` / ``--ff``, last time's failures become labels
        (``arunner.report.lastfailed``); ``--labels-from`` adds labels; ``--shard`` keeps its
        part (``arunner.runsetup.shard``) before ``--parallel`` hands the tests out."""
        labels = list(test_labels or [])
        if (source := self.option_values["labels_from"]) is not None:
            labels += [collection.rerun_label(label) for label in labelsfile.read(source)]
            if not labels:  # an empty part of an external split: not the whole suite
                self.log(f"arunner: --labels-from {source} holds no label; no test to run.")
                return self.test_suite([])
        self._explicit_labels = set(labels)
        self._last_failed = lastfailed.LastFailed()
        if self.last_failed or self.failed_first:
            chosen, note = self._last_failed.select(labels, not self.last_failed, self.top_level)
            chosen = [collection.rerun_label(label) for label in chosen]
            self.log(f"arunner: {note}.")
            self._rerun_labels = set(chosen) - set(labels)
            labels = chosen
        spec = self.option_values["shard"]
        part, parallel = (shard.resolve(spec) if spec else None), self.parallel
        if part is not None:
            self.parallel = 0  # Django's hand-out to workers waits for the part
        suite: unittest.TestSuite = super().build_suite(labels, **kwargs)
        selection.check_filters(suite, self.test_name_patterns, self.tags, self.exclude_tags)
        if part is not None:
            self.parallel = parallel
            times = durations.read_times(Path(self.durations_file)) if self.durations_file else None
            tests, note = shard.split(list(iter_test_cases(suite)), part, times)
            self.log(f"arunner: {note}.")
            suite = shard.distribute(self, self.test_suite(tests))
        self._total = suite.countTestCases()
        return suite

    def log(self, msg: str, level: int | None = None) -> None:
        """Django's; on stderr under ``--list``, whose stdout holds the test ids alone."""
        listing = getattr(self, "option_values", {}).get("collect_only")
        with contextlib.redirect_stdout(sys.stderr) if listing else contextlib.nullcontext():
            super().log(msg, level)

    def load_tests_for_label(self, label: str, discover_kwargs: Any) -> Any:
        """Stop at a label that matches nothing or a test module that does not import;
        with ``--continue-on-collection-errors``, say so and run what the label loaded."""
        tests = super().load_tests_for_label(label, discover_kwargs)
        try:
            collection.check_label(
                label,
                tests,
                explicit=label in self._explicit_labels,
                filtered=bool(self.test_name_patterns),
            )
        except collection.CollectionError as exc:
            if label in self._rerun_labels and exc.__cause__ is None:
                return unittest.TestSuite()  # a recorded failure whose test is gone
            if not self.option_values["continue_on_collection_errors"]:
                raise
            self.log(collection.continuing_note(exc))
        return tests

    def setup_test_environment(self, **kwargs: Any) -> None:
        """Refuse a report path that cannot be written before anything else is set up; then
        Django's, then SIGINT back to arunner's handler from unittest's
        (``arunner.core.termination`` says what each Ctrl-C does)."""
        paths = {"--junit-xml": self.junit_xml, "--durations-file": self.durations_file}
        for flag, path in paths.items():
            if path and (created := reportfiles.check(path, flag)) is not None:
                self.log(f"arunner: created the directory {created} for {flag}.", logging.DEBUG)
        super().setup_test_environment(**kwargs)
        if self._stopper is not None:
            self._stopper.install()

    def setup_databases(self, **kwargs: Any) -> Any:
        """Fail within seconds, naming host and port, when a database server is unreachable.
        A set-up that a signal stops drops what it made; ``--keepdb`` makes again what a
        stopped set-up left (``arunner.runsetup.testdbs``)."""
        aliases = kwargs.get("aliases") or ()
        dbcheck.check(aliases)
        self._planned = testdbs.plan(aliases, self.parallel)
        if self.keepdb:
            for name in testdbs.forget_incomplete(self._planned):
                self.log(f"arunner: test database {name!r} was left incomplete; making it again")
        try:
            old_config = super().setup_databases(**kwargs)
        except BaseException:
            if not self.keepdb:
                if self._stopper is not None:
                    self._stopper.defer()
                testdbs.drop(self._planned)
            raise
        if self.keepdb:
            testdbs.mark(self._planned)
        return old_config

    def teardown_databases(self, old_config: Any, **kwargs: Any) -> None:
        """Django's teardown, which a Ctrl-C or SIGTERM no longer cuts short: it is what
        stopping does anyway."""
        if self._stopper is not None:
            if self._stopper.now is not None:
                sys.stderr.write("\n")  # after the progress dots of a run stopped at once
            self._stopper.defer()
        try:
            super().teardown_databases(old_config, **kwargs)
        finally:
            testdbs.remove_journals(self._planned)

    def make_reporters(self) -> list[model.Reporter]:
        """The reporters this run's options ask for; the last-failed record always."""
        active: list[model.Reporter] = [self._last_failed or lastfailed.LastFailed()]
        if self.junit_xml:
            # Imported here: XML is the one report most runs do not write (start-up time).
            from arunner.report import junitxml

            active.append(junitxml.JUnitXml(self.junit_xml, family=self.junit_family))
        if self.durations is not None or self.durations_file:
            active.append(durations.Durations(self.durations, self.durations_file))
        if self.option_values["reruns"]:
            self._flaky = flaky.FlakyTests()
            active.append(self._flaky)
        if ghannotations.enabled():
            active.append(ghannotations.GitHubAnnotations())
        return active

    def get_test_runner_kwargs(self) -> dict[str, Any]:
        kwargs: dict[str, Any] = super().get_test_runner_kwargs()
        kwargs.pop("durations", None)  # arunner.report.durations prints the table, on every Python
        stream = kwargs.get("stream") or sys.stderr
        kwargs["resultclass"] = terminal.result_class(
            kwargs.get("resultclass"),
            reporters=self._reporters,
            total=self._total,
            colour=terminal.use_colour(stream, self.no_color, self.force_color),
            live=terminal.can_go_live(stream) and not self.pdb,
            records=self._records_locally,
            made=self._made_results,
        )
        return kwargs

    def run_config(self) -> options.RunConfig:
        return options.run_config(
            self.option_values,
            executor=self.executor,
            loop_scope=self.loop_scope,
            task_grace=self.task_grace,
            db_threads=self.db_threads,
            keepdb=self.keepdb,
            test_aliases=self._test_aliases,
        )

    def run_suite(self, suite: unittest.TestSuite, **kwargs: Any) -> unittest.TestResult:
        suite = _with_config(suite, self.run_config())
        self._reporters = model.Reporters(self.make_reporters())
        self._total = suite.countTestCases()
        parallel = getattr(suite, "subsuites", None) is not None
        reporters = self._reporters
        self._records_locally = not (
            parallel and workers.install(suite, reporters.wants_details, reporters.wants_passes)
        )
        forget = emergency.at_end_run(self._reporters.close)
        self._made_results = []
        self._parallel_suite = parallel
        if self._stopper is not None:
            self._stopper.soft_stop = self._soft_stop
        try:
            self._result = super().run_suite(suite, **kwargs)
        finally:
            if self._stopper is not None:
                self._stopper.soft_stop = None
            forget()
            self._reporters.close()
        return self._result

    def _soft_stop(self) -> str:
        """A first Ctrl-C while tests run (the signal thread): no test starts any more; what
        the run waits for."""
        for result in self._made_results:
            result.stop()
        if self._parallel_suite:
            stop_workers()
            return "after the running tests"
        running = getattr(self._made_results[-1], "_running", None) if self._made_results else None
        if running is None:
            return "before the next test"
        return f"after the running test ({running.id()})"

    def run_tests(self, test_labels: Any, **kwargs: Any) -> int:
        """Django's ``run_tests``; a run that a signal stopped says so and exits with 130
        (Ctrl-C) or 143 (SIGTERM), under ``manage.py test`` too. ``--list`` lists the tests
        and stops there (``arunner.runsetup.testlist``)."""
        if self.option_values["collect_only"]:
            self.parallel = 0
            testlist.write(self.build_suite(test_labels), sys.stdout, sys.stderr)
            return 0
        with termination.stopper(sys.stderr) as stopper:
            self._stopper = stopper
            if stopper is not None:
                stopper.unblock = dbinterrupt.canceller(connections)
            connection_created.connect(dbinterrupt.remember_session, dispatch_uid=_SESSIONS)
            try:
                failures: int = super().run_tests(test_labels, **kwargs)
            except KeyboardInterrupt as exc:
                # Django's teardown has run by now; manage.py would show a traceback.
                self._close_run(exc, at_exit=False)
                termination.exit_stopped(termination.exit_code(exc))
            finally:
                connection_created.disconnect(dispatch_uid=_SESSIONS)
                self._stopper = None
        self.interrupted = stopper is not None and (stopper.soft or stopper.now is not None)
        if self.interrupted:
            assert stopper is not None
            stopped = stopper.now() if stopper.now is not None else None
            self._close_run(stopped, at_exit=False)
            termination.exit_stopped(termination.exit_code(stopped))
        if self._result is not None:
            self._close_run()
        return failures

    def _close_run(self, stopped: BaseException | None = None, at_exit: bool = True) -> None:
        """Write the closing line last: with ``--timing``, ``manage.py test`` prints its
        "Total run took" line after ``run_tests`` returns, so the line waits for exit. A run
        that a signal stopped says so above it, and how many selected tests did not run."""
        sys.stdout.flush()
        result = self._made_results[-1] if self._made_results else None
        if result is not None and (committed := transactionend.warning(result, self.keepdb)):
            sys.stderr.write(f"\n{committed}\n")
        was_stopped = self.interrupted or stopped is not None
        if was_stopped and result is None and self._last_failed is not None:
            # Stopped before any test: the JUnit and durations files, empty but there.
            files = [r for r in self.make_reporters() if r is not self._last_failed]
            model.Reporters(files).close()
        if was_stopped:
            ran = result.testsRun if result is not None else 0
            line = closingline.closing_line(result) if result is not None else None
            write = functools.partial(
                termination.report,
                stopped,
                sys.stderr,
                line or "0 passed, 0 failed, 0 skipped",
                max(0, self._total - ran),
            )
        elif result is not None:
            above = self._flaky.line() if self._flaky is not None else ""
            write = functools.partial(closingline.write_closing_line, result, sys.stderr, above)
        else:
            return
        if at_exit and isinstance(self.time_keeper, TimeKeeper):
            atexit.register(write)
        else:
            write()


def _with_config(suite: unittest.TestSuite, config: options.RunConfig) -> unittest.TestSuite:
    """The suite to run: each ``AsyncTestSuite`` in it (a ``--parallel`` suite's subsuites, which
    travel to the workers) made anew with the run's settings."""
    subsuites = getattr(suite, "subsuites", None)
    if subsuites is not None:
        suite.subsuites = [_with_config(subsuite, config) for subsuite in subsuites]  # type: ignore[attr-defined]  # Django's ParallelTestSuite
        return suite
    return suite.with_config(config) if isinstance(suite, AsyncTestSuite) else suite
