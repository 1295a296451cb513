"""Exit codes, the error type for mistakes in how a run is set up, and a test's time-out.

A configuration mistake (settings that do not import, a database nobody answers on, a label
that matches nothing) is not a test failure: CI should see it as exit code 2 and one readable
line, not as a traceback and exit 1. ``ConfigurationError`` is a ``CommandError`` so that
``manage.py test`` prints it the same way (``CommandError: ...``, exit 2).
"""

from __future__ import annotations

import enum

from django.core.management.base import CommandError


class ExitCode(enum.IntEnum):
    """What ``arunner`` exits with."""

    OK = 0
    TESTS_FAILED = 1
    USAGE_ERROR = 2
    INTERRUPTED = 130
    TERMINATED = 143


class ConfigurationError(CommandError):
    """The run cannot start as configured; ``hint`` says what to check."""

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message, returncode=ExitCode.USAGE_ERROR)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        text = super().__str__()
        return f"{text}\n  hint: {self.hint}" if self.hint else text


class TestTimeoutError(Exception):
    """The test ran past its time limit; the message says where everything was waiting.

    Here, below the watchdog that raises it, because a test's phases
    (``arunner.core.phases``) catch and raise it too.
    """
