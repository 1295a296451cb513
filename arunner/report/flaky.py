"""``--reruns``: the tests that failed and then passed on a rerun, on the terminal.

A flaky test counts once, as passed (or as what its last run was), in ``Ran N tests`` and in
the closing line; this reporter lists each one with its first failure in a section of its
own, after unittest's failure details, and gives the count that goes on a line of its own
right above the closing line. A test that failed every run is told by unittest's block of
its last failure; the section names how many runs it had.
"""

from __future__ import annotations

from typing import TextIO

from arunner.report.model import TestReport

_RULE = "-" * 70
_DOUBLE_RULE = "=" * 70


class FlakyTests:
    """Collects the reports of tests that were rerun; created only with ``--reruns``."""

    wants_details = False
    #: A rerun test's report is built whatever its outcome (``ReportRecorder``).
    wants_passes = False

    def __init__(self) -> None:
        self.flaky: list[TestReport] = []
        self.failing: list[TestReport] = []

    def add(self, report: TestReport) -> None:
        if report.flaky:
            self.flaky.append(report)
        elif report.reruns:
            self.failing.append(report)

    def summary(self, stream: TextIO, verbosity: int) -> None:
        for report in self.flaky:
            first = report.reruns[0]
            ran = len(report.reruns) + 1
            stream.write(f"{_DOUBLE_RULE}\nFLAKY: {report.test_id}\n{_RULE}\n")
            stream.write(f"Failed on run 1, {report.outcome} on run {ran}. The first failure:\n")
            stream.write("".join(problem.text for problem in first.problems).rstrip("\n"))
            stream.write("\n\n")
        for report in self.failing:
            runs = len(report.reruns) + 1
            stream.write(f"Failed on every run ({runs} runs): {report.test_id}\n")
        if self.failing:
            stream.write("\n")

    def line(self) -> str:
        """The line above the closing line; empty when no test was flaky."""
        count = len(self.flaky)
        if not count:
            return ""
        tests = "test" if count == 1 else "tests"
        then = "passed" if all(r.outcome == "passed" for r in self.flaky) else "did not fail"
        return f"{count} flaky {tests} (failed, then {then} on a rerun)"

    def close(self) -> None:
        """Nothing to write."""
