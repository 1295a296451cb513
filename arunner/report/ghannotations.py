"""GitHub Actions annotations: under ``GITHUB_ACTIONS=true``, an ``::error`` line per failure.

GitHub turns a line ``::error file=F,line=L,title=T::MESSAGE`` printed by a step into an
annotation on line L of file F, shown inline in the pull request's diff. arunner prints one
for each failure or error of a test (each failing subtest, each class- or module-level
error, an unexpected success), pointing at the line that failed: the deepest frame of the
traceback in the test's own file, else the test's ``def`` line. F is relative to the
repository root, ``GITHUB_WORKSPACE`` (where actions/checkout puts the repository), or the
current directory outside Actions.

The lines are printed with the end-of-run summary, after the failure details and before
``Ran N tests``, to stdout, flushed after the terminal's stream: a workflow command must
start its line, and while tests run the progress dots or the live line hold the terminal's
line open. Under ``--parallel`` the reports come from the workers to the parent, where this
reporter, like the JUnit one, reads them; the order is the order the reports arrived in.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TextIO

from arunner.report.model import TestReport, locate_id

#: A traceback's frame line: ``  File "/path/x.py", line 12, in test_x``.
_FRAME = re.compile(r'^\s*File "(?P<file>[^"]+)", line (?P<line>\d+)', re.MULTILINE)


def enabled(environ: Mapping[str, str] = os.environ) -> bool:
    """Whether the run is a GitHub Actions step (the runner sets ``GITHUB_ACTIONS=true``)."""
    return environ.get("GITHUB_ACTIONS") == "true"


def escape_data(text: str) -> str:
    """A workflow command's message, escaped as GitHub's runner unescapes it."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    """A workflow command's property value: also ``:`` and ``,``, which delimit properties."""
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def failing_line(traceback_text: str, test_file: str) -> int | None:
    """The line of the deepest frame in ``test_file`` (an absolute path) of a traceback."""
    wanted = os.path.realpath(test_file)
    found = None
    for match in _FRAME.finditer(traceback_text):
        if os.path.realpath(match["file"]) == wanted:
            found = int(match["line"])
    return found


class GitHubAnnotations:
    """Collects the failures of the run; ``summary`` prints their ``::error`` lines."""

    wants_details = False  # the test's file is found from its module, in this process
    wants_passes = False

    def __init__(self, root: str | None = None, out: TextIO | None = None) -> None:
        self.root = Path(root or os.environ.get("GITHUB_WORKSPACE") or os.getcwd()).resolve()
        self.out = out
        self.lines: list[str] = []

    def add(self, report: TestReport) -> None:
        if not report.failed:
            return
        file, def_line = report.file, report.line
        if file is None:
            file, def_line = locate_id(report.classname, report.name)
        for problem in report.problems:
            if problem.kind == "skipped":
                continue
            line = failing_line(problem.text, os.path.abspath(file)) if file else None
            self.lines.append(self.command(file, line or def_line, report.test_id, problem.message))

    def command(self, file: str | None, line: int | None, title: str, message: str) -> str:
        """One ``::error`` line; without ``file`` (or with one outside the repository) the
        annotation still shows on the run's summary page, tied to no line."""
        properties = []
        relative = self._relative(file) if file else None
        if relative is not None:
            properties.append(f"file={escape_property(relative)}")
            if line:
                properties.append(f"line={line}")
        properties.append(f"title={escape_property(title)}")
        first = message.splitlines()[0] if message.strip() else "failed"
        return f"::error {','.join(properties)}::{escape_data(first)}"

    def _relative(self, file: str) -> str | None:
        path = Path(os.path.abspath(file)).resolve()
        try:
            return path.relative_to(self.root).as_posix()
        except ValueError:
            return None

    def summary(self, stream: TextIO, verbosity: int) -> None:
        stream.flush()
        self._print()

    def close(self) -> None:
        """A run stopped before its summary still gets the failures it had."""
        self._print()

    def _print(self) -> None:
        if not self.lines:
            return
        out = self.out or sys.stdout
        out.write("".join(f"{line}\n" for line in self.lines))
        out.flush()
        self.lines = []
