"""SIGTERM ends a run the way a second Ctrl-C does.

CI systems cancel a job with SIGTERM (GitLab, ``docker stop``; GitHub Actions after SIGINT).
Python's default for it ends the process on the spot: no teardown, so the test databases stay
on the server. Raised as an exception in the main thread instead, it unwinds through Django's
``run_tests``, whose teardown drops them, and the reports are written on the way out.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from typing import Any, TextIO

__unittest = True


class Terminated(KeyboardInterrupt):
    """The run received SIGTERM."""


def _raise(signum: int, frame: Any) -> None:
    # Once: a second SIGTERM must not cut the teardown short (SIGKILL still can).
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise Terminated


@contextlib.contextmanager
def terminate_as_interrupt() -> Iterator[None]:
    """Within the block, SIGTERM raises ``Terminated`` in the main thread."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def report(exc: BaseException, stream: TextIO) -> None:
    """Say the run was stopped, then the closing line of the tests that ended, last."""
    word = "terminated" if isinstance(exc, Terminated) else "interrupted"
    stream.write(f"arunner: {word}\n")
    line = getattr(exc, "arunner_closing_line", None)
    if line:
        stream.write(f"\n{line}\n")
    stream.flush()


def default_in_worker() -> None:
    """In a ``--parallel`` worker: SIGTERM (how the pool stops its workers) ends it quietly,
    as Python's default does, rather than through the handler inherited from the parent."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
