"""What a run shows on the terminal while it runs.

On a terminal at verbosity 1, one live line: tests done out of the total, time elapsed, the
test running now; failures are announced above it as they happen. Off a terminal (a CI log)
and at other verbosities, unittest's own output: dots, or a line per test at ``-v 2``.

Colour: ``--no-color`` and ``--force-color`` first, then a non-empty ``NO_COLOR`` (off), then
a non-empty ``FORCE_COLOR`` (on), else on exactly when the stream is a terminal. (pytest's
order; click itself reads neither variable.) Colour is applied by wrapping the result's
stream and styling unittest's status words, so no private unittest method is overridden.
"""

from __future__ import annotations

import os
import shutil
import unittest
from collections.abc import Mapping
from time import perf_counter
from typing import Any

import click
from django.test.runner import PDBDebugResult

from .remoteerrors import ShowsWorkerText
from .reports import Reporters, ReportRecorder

_STATUS_COLOURS = {
    ".": "green",
    "ok": "green",
    "F": "red",
    "E": "red",
    "u": "red",
    "FAIL": "red",
    "ERROR": "red",
    "unexpected success": "red",
    "s": "yellow",
    "x": "yellow",
    "expected failure": "yellow",
}
_HEADINGS = ("FAIL:", "ERROR:", "UNEXPECTED SUCCESS:")


def is_terminal(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def use_colour(
    stream: Any,
    no_color: bool = False,
    force_color: bool = False,
    environ: Mapping[str, str] = os.environ,
) -> bool:
    if no_color or force_color:
        return force_color and not no_color
    if environ.get("NO_COLOR"):
        return False
    if environ.get("FORCE_COLOR"):
        return True
    return is_terminal(stream)


def can_go_live(stream: Any, environ: Mapping[str, str] = os.environ) -> bool:
    """A live line needs a terminal that understands carriage return and erase-line."""
    return is_terminal(stream) and environ.get("TERM", "") != "dumb"


class ColourStream:
    """The result's stream, with unittest's status words and failure headings in colour."""

    def __init__(self, stream: Any) -> None:
        self.stream = stream

    def _style(self, text: str) -> str:
        colour = _STATUS_COLOURS.get(text)
        if colour is None and text.startswith("skipped"):
            colour = "yellow"
        if colour is not None:
            return click.style(text, fg=colour)
        if text.startswith(_HEADINGS):
            return click.style(text, fg="red", bold=True)
        return text

    def write(self, text: str) -> Any:
        return self.stream.write(self._style(text))

    def writeln(self, text: str | None = None) -> None:
        self.stream.writeln(self._style(text) if text else text)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.stream, name)


class ArunnerResult(ShowsWorkerText, ReportRecorder):
    """Result mixin for the main process: reports go to the run's reporters; the terminal
    gets the live line or unittest's output, in colour or not."""

    reporters: Reporters = Reporters(())
    total: int = 0
    colour: bool = False
    live: bool = False
    #: Every result of the run, as it is made: the runner's way to count an interrupted run
    #: (``result_class`` gives each run a list of its own).
    made: list[Any]

    def __init__(self, stream: Any, descriptions: bool, verbosity: int, **kwargs: Any) -> None:
        shown = ColourStream(stream) if self.colour else stream
        super().__init__(
            shown,
            descriptions,
            verbosity,
            details=self.reporters.wants_details,
            passes=self.reporters.wants_passes,
            **kwargs,
        )
        self.made.append(self)
        self.verbosity = verbosity
        self.report_sink = self.reporters.add
        self._live = self.live and verbosity == 1
        if self._live:
            self.dots = False
        self._done = 0
        self._started = perf_counter()
        self._line_shown = False

    # -- the live line ---------------------------------------------------------------------

    def _status(self, current: str) -> None:
        elapsed = int(perf_counter() - self._started)
        width = len(str(self.total))
        text = f"[{self._done:>{width}}/{self.total}] {elapsed // 60}:{elapsed % 60:02d} {current}"
        columns = shutil.get_terminal_size().columns - 1
        self.stream.write("\r\x1b[K" + text[:columns])
        self.stream.flush()
        self._line_shown = True

    def _clear(self) -> None:
        if self._line_shown:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
            self._line_shown = False

    def _told(self, test: Any, heading: str) -> None:
        """Above the live line, each failing test as it fails."""
        if self._live:
            self._clear()
            label = click.style(heading, fg="red", bold=True) if self.colour else heading
            self.stream.writeln(f"{label} {test}")
            self._status(test.id())

    def printErrors(self) -> None:
        """Failure details, then the reporters' summaries (the durations table)."""
        self._clear()
        super().printErrors()
        self.reporters.summary(self.stream, self.verbosity)


class LiveResult(ArunnerResult):
    """``ArunnerResult`` with the live line kept up to date as tests start and stop; a class
    of its own so that a run without the line pays nothing for it on every test."""

    def startTest(self, test: Any) -> None:
        super().startTest(test)
        if self._live:
            self._status(test.id())

    def stopTest(self, test: Any) -> None:
        super().stopTest(test)
        if self._live:
            self._done += 1
            self._status(test.id())


def result_class(
    base: type | None,
    *,
    reporters: Reporters,
    total: int,
    colour: bool,
    live: bool,
    records: bool,
    made: list[Any],
) -> type:
    """The result class of one run: ``ArunnerResult`` on top of Django's choice (``--pdb``,
    ``--debug-sql``) or unittest's ``TextTestResult``."""
    return type(
        "ArunnerTextResult",
        (LiveResult if live else ArunnerResult, base or unittest.TextTestResult),
        {
            "interruption_fails": not (base and issubclass(base, PDBDebugResult)),
            "reporters": reporters,
            "total": total,
            "colour": colour,
            "live": live,
            "records": records,
            "made": made,
        },
    )
