"""``--durations N`` (the slowest tests, after the failure details) and ``--durations-file``.

Django 5.2 offers ``--durations`` only where unittest has it, Python 3.12+, and there
unittest prints the table from the parent's clock. arunner prints it from the reports instead, the
time measured in the process that ran the test, on every Python it supports, in unittest's
format. ``--durations-file`` keeps every test's time as JSON, the input a CI job needs to
split a suite into shards of equal duration.
"""

from __future__ import annotations

import argparse
import contextlib
import json
from pathlib import Path
from typing import Any, TextIO

from arunner.core.options import REPORTS_GROUP
from arunner.report import reportfiles
from arunner.report.model import TestReport

SEPARATOR = "-" * 70
FORMAT_VERSION = 1


def add_arguments(parser: Any) -> None:
    """``--durations N`` as Django defines it on Python 3.12+, for Python 3.11 too."""
    group = parser.add_argument_group(REPORTS_GROUP)
    with contextlib.suppress(argparse.ArgumentError):  # Django already defines it
        group.add_argument(
            "--durations",
            dest="durations",
            type=int,
            default=None,
            metavar="N",
            help="Show the N slowest test cases (N=0 for all).",
        )


class Durations:
    """Per-test durations: a table (``count`` not None) and/or a JSON file (``path``)."""

    wants_details = False
    wants_passes = True

    def __init__(self, count: int | None, path: str | None) -> None:
        self.count = count
        self.path = Path(path) if path else None
        self.times: dict[str, float] = {}

    def add(self, report: TestReport) -> None:
        if report.outcome != "skipped":
            self.times[report.test_id] = report.duration

    def summary(self, stream: TextIO, verbosity: int) -> None:
        if self.count is None or not self.times:
            return
        slowest = sorted(self.times.items(), key=lambda item: item[1], reverse=True)
        if self.count > 0:
            slowest = slowest[: self.count]
        stream.write("Slowest test durations\n" + SEPARATOR + "\n")
        hidden = False
        for test_id, elapsed in slowest:
            if verbosity < 2 and elapsed < 0.001:
                hidden = True
                continue
            stream.write(f"{f'{elapsed:.3f}s':<10} {test_id}\n")
        if hidden:
            stream.write("\n(durations < 0.001s were hidden; use -v 2 to show these durations)")
        stream.write("\n")

    def close(self) -> None:
        if self.path is None:
            return
        times = {**self._previous(), **{k: round(v, 6) for k, v in self.times.items()}}
        data = {"version": FORMAT_VERSION, "durations": dict(sorted(times.items()))}
        reportfiles.write(self.path, (json.dumps(data, indent=1) + "\n").encode("utf-8"))

    def _previous(self) -> dict[str, float]:
        """What the file already holds, so shards sharing it keep each other's entries."""
        return read_times(self.path) if self.path is not None else {}


def read_times(path: Path) -> dict[str, float]:
    """Test id -> seconds from a durations file; empty when it is missing or not one."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return {str(k): float(v) for k, v in data["durations"].items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return {}
