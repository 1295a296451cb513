"""What a run shows on the terminal while it runs.

On a terminal at verbosity 1, one live line: tests done out of the total, time elapsed, the
test running now; failures are announced above it as they happen. Off a terminal (a CI log)
and at other verbosities, unittest's own output: dots, or a line per test at ``-v 2``.

The live line is redrawn every second, so the clock moves during a long test. What a test
prints goes to ``sys.stdout`` / ``sys.stderr``, which the run replaces with streams that
erase the line first (and do not draw it again over a half-written line); they are put back
when the tests end, before Django's teardown messages.

Colour: ``--no-color`` and ``--force-color`` first, then a non-empty ``NO_COLOR`` (off), then
a non-empty ``FORCE_COLOR`` (on), else on exactly when the stream is a terminal. (pytest's
order; click itself reads neither variable.) Colour is applied by wrapping the result's
stream and styling unittest's status words, so no private unittest method is overridden.
"""

from __future__ import annotations

import os
import shutil
import sys
import threading
import unittest
from collections.abc import Mapping
from time import perf_counter
from typing import Any

import click
from django.test.runner import PDBDebugResult

from arunner.report.model import Reporters
from arunner.report.recorder import ReportRecorder
from arunner.report.remoteerrors import ShowsWorkerText

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
    #: Set by unittest's ``TextTestResult``, which every run mixes in after this class.
    stream: Any

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
        self._lock = threading.RLock()
        self._current = ""
        #: What a test printed last ended mid-line: the live line waits for the newline.
        self._mid_line = False

    # -- the live line ---------------------------------------------------------------------

    def _status(self, current: str) -> None:
        with self._lock:
            self._current = current
            if self._mid_line:
                return  # a test's half-written line: the next newline lets the line back
            elapsed = int(perf_counter() - self._started)
            width = len(str(self.total))
            done = f"[{self._done:>{width}}/{self.total}]"
            text = f"{done} {elapsed // 60}:{elapsed % 60:02d} {current}"
            columns = shutil.get_terminal_size().columns - 1
            self.stream.write("\r\x1b[K" + text[:columns])
            self.stream.flush()
            self._line_shown = True

    def _clear(self) -> None:
        with self._lock:
            if self._line_shown:
                self.stream.write("\r\x1b[K")
                self.stream.flush()
                self._line_shown = False

    def _told(self, test: Any, heading: str) -> None:
        """Above the live line, each failing test as it fails."""
        if self._live:
            with self._lock:
                self._clear()
                label = click.style(heading, fg="red", bold=True) if self.colour else heading
                self.stream.writeln(f"{label} {test}")
                self._status(test.id())

    def printErrors(self) -> None:
        """Failure details, then the reporters' summaries (the durations table)."""
        self._clear()
        super().printErrors()
        self.reporters.summary(self.stream, self.verbosity)


class _ErasesLine:
    """``sys.stdout`` or ``sys.stderr`` while the live line is up: erases it before a test's
    output, and notes whether that output ended its line."""

    def __init__(self, stream: Any, result: ArunnerResult) -> None:
        self.stream = stream
        self.result = result

    def write(self, text: str) -> int:
        result = self.result
        with result._lock:
            result._clear()
            written: int = self.stream.write(text)
            if text:
                result._mid_line = not text.endswith("\n")
                if not result._mid_line:
                    self.stream.flush()
            return written

    def __getattr__(self, name: str) -> Any:
        return getattr(self.stream, name)


class LiveResult(ArunnerResult):
    """``ArunnerResult`` with the live line kept up to date as tests start and stop, and
    every second in between; a class of its own so that a run without the line pays nothing
    for it on every test."""

    _ticking: threading.Event | None = None
    _streams: tuple[Any, Any] | None = None

    def startTestRun(self) -> None:
        super().startTestRun()
        if not self._live:
            return
        self._streams = sys.stdout, sys.stderr
        sys.stdout = _ErasesLine(sys.stdout, self)
        sys.stderr = _ErasesLine(sys.stderr, self)
        self._ticking = threading.Event()
        threading.Thread(
            target=self._tick, args=(self._ticking,), name="arunner-live-line", daemon=True
        ).start()

    def stopTestRun(self) -> None:
        """Put the streams back and erase the line: Django's teardown messages follow."""
        if self._ticking is not None:
            self._ticking.set()
            self._ticking = None
        if self._streams is not None:
            stdout, stderr = self._streams
            self._streams = None
            if isinstance(sys.stdout, _ErasesLine):  # not a stream a test put in its place
                sys.stdout = stdout
            if isinstance(sys.stderr, _ErasesLine):
                sys.stderr = stderr
        self._clear()
        super().stopTestRun()

    def _tick(self, stopped: threading.Event) -> None:
        while not stopped.wait(1.0):
            with self._lock:
                if self._current and not stopped.is_set():
                    self._status(self._current)

    def startTest(self, test: Any) -> None:
        super().startTest(test)
        if self._live:
            self._status(test.id())

    def stopTest(self, test: Any) -> None:
        if self._live and self.buffer:
            self._clear()  # unittest writes a failing test's captured output now, unwrapped
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
