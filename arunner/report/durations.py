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
        reportfiles.write(self.path, encode(times))

    def _previous(self) -> dict[str, float]:
        """What the file already holds, so shards sharing it keep each other's entries."""
        return read_times(self.path) if self.path is not None else {}


def read_times(path: Path) -> dict[str, float]:
    """Test id -> seconds from a durations file; empty when it is missing or not one (a
    run that balances or records by it goes on without it)."""
    try:
        return read(path)
    except (OSError, ValueError):
        return {}


def encode(times: dict[str, float]) -> bytes:
    """A durations file's bytes: the format version and the times sorted by test id."""
    data = {"version": FORMAT_VERSION, "durations": dict(sorted(times.items()))}
    return (json.dumps(data, indent=1) + "\n").encode("utf-8")


def read(path: Path) -> dict[str, float]:
    """The times of a durations file; ``ValueError`` (one line, naming what is wrong) when it
    is not one, ``OSError`` when it cannot be read."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise ValueError("not an arunner durations file (not UTF-8 text)") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"not an arunner durations file (not JSON: {exc})") from None
    if not isinstance(data, dict) or not isinstance(data.get("durations"), dict):
        raise ValueError('not an arunner durations file (no "durations" object)')
    if data.get("version") != FORMAT_VERSION:
        raise ValueError(
            f"not an arunner durations file of version {FORMAT_VERSION} "
            f"(version {data.get('version')!r})"
        )
    times = {}
    for test_id, value in data["durations"].items():
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"not an arunner durations file ({test_id!r}: {value!r} is no time)")
        times[str(test_id)] = float(value)
    return times


def merge(inputs: list[dict[str, float]], base: dict[str, float] | None = None) -> dict[str, float]:
    """One durations table of ``inputs``, in their order. Each shard's file holds the times
    it measured and, for the other tests, what the file held before (``Durations._previous``),
    so a test's time differs between the inputs when one of them measured it anew. With
    ``base`` (the file the shards started from), a time equal to the base's is such an old
    one and gives way to a new one; otherwise, and among new ones, the later input wins."""
    merged: dict[str, float] = {}
    for times in inputs:
        for test_id, value in times.items():
            old = base.get(test_id) if base is not None else None
            if test_id not in merged or value != old:
                merged[test_id] = value
    return merged
