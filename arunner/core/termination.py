"""How a run stops: Ctrl-C once, Ctrl-C twice, SIGTERM.

- The first Ctrl-C while tests run lets the running test (with ``--parallel``: the running
  tests) end, runs no other, and says so at once. Before the tests run (discovery, test
  database creation) there is no test to wait for: it stops at once.
- A second Ctrl-C stops at once: ``KeyboardInterrupt`` in the main thread, which unwinds
  through Django's ``run_tests``, whose teardown drops the test databases; the running tests
  are errors.
- SIGTERM is how CI systems cancel a job (GitLab, ``docker stop``; GitHub Actions after
  SIGINT). Python's default ends the process on the spot, leaving the test databases on the
  server; here it stops at once as a second Ctrl-C does, as ``Terminated``.

A Python signal handler runs only when the main thread gets back to Python code; a test
stuck in a database driver's C call (a long query on MariaDB, SQLite) would hold it off for
as long as the query runs. So the C-level handler's wake-up byte (``signal.set_wakeup_fd``)
is read by a thread of its own, which says what happens at once and, when the run must stop
now and the main thread has not answered, cancels the queries the main thread's connections
run, so that the handler gets to raise.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import socket
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any, NoReturn, TextIO

__unittest = True

#: How long the thread gives the main thread's handler to raise before it cancels queries.
UNBLOCK_AFTER = 0.3


class Terminated(KeyboardInterrupt):
    """The run received SIGTERM."""


class Stopper:
    """The run's SIGINT and SIGTERM handling, between ``install`` and ``uninstall``."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        #: While tests run: says what the first Ctrl-C waits for, and stops the results.
        self.soft_stop: Callable[[], str] | None = None
        #: Cancels what the main thread waits for in C (queries), from the thread.
        self.unblock: Callable[[], None] | None = None
        #: True after a first Ctrl-C while tests ran; ``now``: the exception class of a stop
        #: at once (second Ctrl-C, SIGTERM, a Ctrl-C before the tests).
        self.soft = False
        self.now: type[KeyboardInterrupt] | None = None
        self._raised = threading.Event()
        self._condition = threading.Condition()
        self._seen: dict[int, int] = {signal.SIGINT: 0, signal.SIGTERM: 0}
        self._handled: dict[int, int] = {signal.SIGINT: 0, signal.SIGTERM: 0}
        self._previous: dict[int, Any] = {}
        self._previous_fd = -1
        self._sockets: tuple[socket.socket, socket.socket] | None = None
        self._thread: threading.Thread | None = None
        self._closed = False
        self._deferred = False

    # -- set-up ------------------------------------------------------------------------------

    def install(self) -> None:
        """Take SIGINT and SIGTERM (main thread only); again after unittest's handler."""
        for signum in (signal.SIGINT, signal.SIGTERM):
            current = signal.signal(signum, self._on_signal)
            if current is not self._on_signal:
                self._previous.setdefault(signum, current)
        if self._sockets is None:
            reader, writer = socket.socketpair()
            reader.setblocking(False)
            writer.setblocking(False)
            self._sockets = reader, writer
            self._previous_fd = signal.set_wakeup_fd(writer.fileno(), warn_on_full_buffer=False)
            self._thread = threading.Thread(target=self._watch, name="arunner-signals", daemon=True)
            self._thread.start()

    def uninstall(self) -> None:
        """Put back what was there; after a stop, ignore both signals instead: the process
        is on its way out, and a signal more would only cut that short."""
        stopped = self.now is not None or self.soft
        for signum, previous in self._previous.items():
            signal.signal(signum, signal.SIG_IGN if stopped else previous)
        self._previous.clear()
        if self._sockets is not None:
            signal.set_wakeup_fd(self._previous_fd)
            self._closed = True
            if self._thread is not None:
                self._thread.join(2)
            for sock in self._sockets:
                sock.close()
            self._sockets = None

    # -- what each signal means --------------------------------------------------------------

    def _note(self, signum: int, write: Callable[[str], None]) -> None:
        """One signal arrived (condition held)."""
        self._seen[signum] = self._seen.get(signum, 0) + 1
        if self.now is not None:
            if self.soft_stop is not None and not self._deferred:
                self._raised.clear()  # tests run: raise again, a test swallowed the first one
            return  # cleaning up: let it finish (SIGKILL still can stop it)
        if self._deferred:
            self.now = Terminated if signum == signal.SIGTERM else KeyboardInterrupt
            self._raised.set()  # noted: the run says so and exits when the teardown is done
        elif signum == signal.SIGTERM:
            self.now = Terminated
        elif self.soft or self.soft_stop is None:
            self.now = KeyboardInterrupt
        else:
            self.soft = True
            waits_for = self.soft_stop()
            write(f"\narunner: stopping {waits_for}; press Ctrl-C again to stop now\n")

    def _watch(self) -> None:
        """The thread: read the wake-up bytes of the C-level handler as they come."""
        assert self._sockets is not None
        reader = self._sockets[0]
        while not self._closed:
            ready, _, _ = select.select([reader], [], [], 0.2)
            if not ready:
                continue
            with self._condition:
                try:
                    data = reader.recv(64)
                except (BlockingIOError, OSError):
                    continue
                for byte in data:
                    if byte in self._seen:
                        self._note(byte, self._write)
                self._condition.notify_all()
                stop_now = self.now is not None
            if stop_now and not self._raised.wait(UNBLOCK_AFTER) and self.unblock is not None:
                with contextlib.suppress(Exception):
                    self.unblock()

    def _write(self, text: str) -> None:
        with contextlib.suppress(Exception):
            self.stream.write(text)
            self.stream.flush()

    def _on_signal(self, signum: int, frame: Any) -> None:
        """The Python-level handler, in the main thread: raise when the run must stop now.

        The thread has normally noted the signal already; if its byte never came (a test
        took the wake-up descriptor), the handler notes it itself, writing unbuffered.
        """
        with self._condition:
            self._handled[signum] += 1
            self._condition.wait_for(lambda: self._seen[signum] >= self._handled[signum], 0.2)
            while self._seen[signum] < self._handled[signum]:
                self._note(signum, _write_unbuffered)
            now = self.now
        if now is not None and not self._raised.is_set():
            self._raised.set()
            raise now

    def defer(self) -> None:
        """From now on (the teardown, the drop of a half-made database) a signal is noted,
        not raised: it would only cut short what stopping does."""
        with self._condition:
            self._deferred = True


def _write_unbuffered(text: str) -> None:
    with contextlib.suppress(OSError):
        os.write(sys.stderr.fileno(), text.encode())


@contextlib.contextmanager
def stopper(stream: TextIO) -> Iterator[Stopper | None]:
    """A ``Stopper`` installed for the block (the one already installed, when there is
    one); None outside the main thread."""
    global _active
    if threading.current_thread() is not threading.main_thread():
        yield None
        return
    if _active is not None and _active.soft_stop is None and _active.unblock is None:
        yield _active  # the ``arunner`` command's, around the runner's run
        return
    outer, handler = _active, Stopper(stream)
    _active = handler
    handler.install()
    try:
        yield handler
    finally:
        _active = outer
        handler.uninstall()


#: The stopper installed in this process, if any.
_active: Stopper | None = None


def exit_code(exc: BaseException | None) -> int:
    return 143 if isinstance(exc, Terminated) else 130


def report(
    exc: BaseException | None, stream: TextIO, closing_line: str | None, not_run: int = 0
) -> None:
    """Say the run was stopped and how many selected tests did not run, then the closing
    line of the tests that ran, last. ``exc`` None: a first Ctrl-C stopped it."""
    word = "terminated" if isinstance(exc, Terminated) else "interrupted"
    if not_run:
        stream.write(f"arunner: {not_run} selected {_tests(not_run)} did not run\n")
    stream.write(f"arunner: {word}\n")
    if closing_line:
        stream.write(f"\n{closing_line}\n")
    stream.flush()


def exit_stopped(code: int) -> NoReturn:
    """End a stopped run with ``code``. A thread that cannot be stopped (stuck in a call that
    never returns) would keep the interpreter from exiting; then the process ends without
    waiting for it, once the output is flushed (the reports are written by now)."""
    stuck = [
        thread
        for thread in threading.enumerate()
        if thread.is_alive() and not thread.daemon and thread is not threading.main_thread()
    ]
    if stuck:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)
    raise SystemExit(code)


def _tests(count: int) -> str:
    return "test" if count == 1 else "tests"


def in_worker() -> None:
    """In a ``--parallel`` worker: the parent decides what Ctrl-C means (a terminal sends it
    to the workers too), and SIGTERM (how the pool stops its workers) ends it quietly, as
    Python's default does. The wake-up descriptor is the parent's: let go of it."""
    with contextlib.suppress(ValueError):
        signal.set_wakeup_fd(-1)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
