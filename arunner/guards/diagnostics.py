"""Warnings that belong to a test but surface outside it: unawaited coroutines, slow callbacks.

"coroutine ... was never awaited" fires from a finaliser, so unittest never sees it and it
prints with no test's name (or, under ``-W error``, goes to ``sys.unraisablehook``). asyncio's
debug mode logs a callback that blocked the loop through the ``asyncio`` logger. Both are
caught here, named after the running test, and, with ``--strict``, an unawaited coroutine
fails its test.
"""

from __future__ import annotations

import logging
import sys
import warnings
from typing import Any

from arunner.core.guard import TestPlan

__unittest = True

_NEVER_AWAITED = "was never awaited"


class UnawaitedCoroutineError(AssertionError):
    """A coroutine created during the test was never awaited (``--strict``)."""


class SlowCallbackWarning(UserWarning):
    """A callback held the event loop longer than asyncio's slow-callback limit."""


class _SlowCallbacks(logging.Handler):
    def __init__(self, diagnostics: TestDiagnostics) -> None:
        super().__init__(logging.WARNING)
        self.diagnostics = diagnostics

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if message.startswith("Executing ") and " took " in message:
            self.diagnostics.note_slow(message)


class TestDiagnostics:
    """Installed for one run; collects what each test triggered."""

    def __init__(self, strict: bool, asyncio_debug: bool) -> None:
        self.strict = strict
        self.asyncio_debug = asyncio_debug
        #: The running test, None between tests.
        self.test: Any = None
        self.unawaited: list[str] = []
        self.slow: list[str] = []
        self._showwarning: Any = None
        self._unraisablehook: Any = None
        self._handler: _SlowCallbacks | None = None

    def install(self) -> None:
        self._showwarning = warnings.showwarning
        warnings.showwarning = self._show
        self._unraisablehook = sys.unraisablehook
        sys.unraisablehook = self._unraisable
        if self.asyncio_debug:
            self._handler = _SlowCallbacks(self)
            logging.getLogger("asyncio").addHandler(self._handler)

    def uninstall(self) -> None:
        if self._showwarning is not None:
            warnings.showwarning = self._showwarning
            sys.unraisablehook = self._unraisablehook
            self._showwarning = None
        if self._handler is not None:
            logging.getLogger("asyncio").removeHandler(self._handler)
            self._handler = None

    def prepare(self, plan: TestPlan) -> TestPlan:
        """Every test: any may leave a coroutine unawaited or hold the loop too long."""
        return plan

    def begin(self, test: Any, plan: TestPlan) -> None:
        """Collect from now on: what comes between tests belongs to none of them."""
        self.test = test

    def end(self, test: Any, begun: None) -> None:
        """The test's end: report slow callbacks; fail for unawaited coroutines."""
        test, self.test = self.test, None
        if not (self.slow or self.unawaited):
            return
        test_id = test.id()
        slow, self.slow = self.slow, []
        unawaited, self.unawaited = self.unawaited, []
        for message in slow:
            warnings.warn(SlowCallbackWarning(f"{test_id}: {message}"), stacklevel=1)
        if self.strict and unawaited:
            raise UnawaitedCoroutineError(f"{test_id}: " + "; ".join(unawaited) + " (--strict)")

    def note_slow(self, message: str) -> None:
        if self.test is not None:
            self.slow.append(message)

    def _note_unawaited(self, message: str) -> None:
        if self.test is not None:
            self.unawaited.append(message)

    def _show(
        self,
        message: Any,
        category: Any,
        filename: str,
        lineno: int,
        file: Any = None,
        line: Any = None,
    ) -> None:
        text = str(message)
        if issubclass(category, RuntimeWarning) and _NEVER_AWAITED in text:
            self._note_unawaited(text)
            if self.test is not None:
                message = f"{text} (during {self.test.id()})"
        self._showwarning(message, category, filename, lineno, file, line)

    def _unraisable(self, unraisable: Any) -> None:
        exc = unraisable.exc_value
        if isinstance(exc, RuntimeWarning) and _NEVER_AWAITED in str(exc):
            self._note_unawaited(str(exc))
        self._unraisablehook(unraisable)
