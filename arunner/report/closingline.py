"""The closing line every run ends with: ``N passed, N failed, N skipped``.

unittest's own ``Ran N tests`` and ``OK`` / ``FAILED (...)`` lines stay above it for the tools
that parse them; CI tooling reads this one line, which must stand alone as the last line.
"""

from __future__ import annotations

import unittest
from typing import TextIO

from arunner.core import inventory


def counts(result: unittest.TestResult) -> tuple[int, int, int]:
    """(passed, failed, skipped); failed counts tests with failures, errors or an unexpected
    success, each once (a test with two failing subtests, or a failure and an error, failed
    once), and each class- or module-level error, so passed + failed is ``Ran N`` when no
    class or module failed to set up."""
    # entries are (test, traceback), or (test, traceback, sql) under --debug-sql
    failed_entries = [entry[0] for entry in (*result.failures, *result.errors)]
    failed_tests: set[str] = set()
    holders = 0
    for test in (*failed_entries, *result.unexpectedSuccesses):
        # By id: a subtest replayed from a --parallel worker carries a copy of its test.
        test = getattr(test, "test_case", test)
        if isinstance(test, unittest.TestCase):
            failed_tests.add(test.id())
        else:
            holders += 1
    skipped = len(result.skipped)
    counted_skips = sum(1 for test, _ in result.skipped if _counted_in_tests_run(test))
    passed = max(0, result.testsRun - len(failed_tests) - counted_skips)
    return passed, len(failed_tests) + holders, skipped


def _decorated_skip_starts() -> bool:
    """Whether this Python's unittest starts a test skipped by a decorator, which counts it
    in ``testsRun``: 3.11 and 3.13 do, 3.12 skips it before it starts. Asked of unittest
    itself, not assumed from the version."""

    class Probe(unittest.TestCase):
        @unittest.skip("probe")
        def test_probe(self) -> None:
            """Never runs."""

    result = unittest.TestResult()
    Probe("test_probe").run(result)
    return result.testsRun == 1


#: Asked once, at import: before a run replaces anything of unittest's.
_DECORATED_SKIP_STARTS = _decorated_skip_starts()


def _counted_in_tests_run(test: object) -> bool:
    """Whether unittest counted this skipped test in ``testsRun``: a class- or module-level
    skip is a stand-in, never counted; a test skipped by a decorator is counted where unittest
    starts it (``_decorated_skip_starts``)."""
    if not isinstance(test, unittest.TestCase):
        return False
    if _DECORATED_SKIP_STARTS:
        return True
    method = getattr(test, inventory.test_method_name(test), None)
    return not (
        getattr(type(test), "__unittest_skip__", False)
        or getattr(method, "__unittest_skip__", False)
    )


def closing_line(result: unittest.TestResult) -> str:
    passed, failed, skipped = counts(result)
    return f"{passed} passed, {failed} failed, {skipped} skipped"


def write_closing_line(result: unittest.TestResult, stream: TextIO, above: str = "") -> None:
    """The closing line, after an empty line; ``above`` (``--reruns``: the flaky tests'
    count) on the line right before it."""
    stream.write("\n" + (above + "\n" if above else "") + closing_line(result) + "\n")
    stream.flush()
