"""The lock that lets worker threads share the test's connection: fair, re-entrant, bounded.

A database connection serves one thread at a time, and some work must not be interleaved at
all: an open cursor (SQLite steps it lazily, a MariaDB unbuffered cursor still owns the
wire), an atomic block (its savepoints live on a stack shared by every thread). Each of those
is one unit; a thread holds the lock for a whole unit, and may nest units.

Waits are bounded. A thread that holds the connection while it waits for the waiter (the test
iterating an open ``.iterator()`` while it awaits a worker's ORM call) is a deadlock no
database can see; the timeout raises instead, with both threads' stacks.
"""

from __future__ import annotations

import sys
import threading
import traceback
from collections import deque
from time import perf_counter

from django.db.utils import DatabaseError

__unittest = True


class ConnectionWaitTimeout(DatabaseError):
    """A thread waited too long for the test's connection; the message shows both stacks."""


def _thread_name(ident: int | None) -> str:
    for thread in threading.enumerate():
        if thread.ident == ident:
            return thread.name
    return f"<thread {ident}>"


def _stack(ident: int | None) -> str:
    frame = sys._current_frames().get(ident) if ident is not None else None
    if frame is None:
        return "    (no longer running)\n"
    return "".join(traceback.format_stack(frame))


class UnitLock:
    """Held by one thread per unit of work; waiters are served first come, first served.

    Fairness matters: a test that runs statements back to back would otherwise retake the
    lock before a woken worker gets the interpreter, and starve it.
    """

    def __init__(self, label: str, limit: float) -> None:
        self.label = label
        self.limit = limit
        self.owner: int | None = None
        self.depth = 0
        self.held_for = ""
        self.longest_wait = 0.0
        self._cond = threading.Condition(threading.Lock())
        self._waiting: deque[int] = deque()

    def acquire(self, unit: str) -> None:
        """Take the lock for ``unit`` (what the thread is about to do, for the timeout)."""
        me = threading.get_ident()
        with self._cond:
            if self.owner == me:
                self.depth += 1
                return
            if self.owner is None and not self._waiting:
                self.owner, self.depth, self.held_for = me, 1, unit
                return
            started = perf_counter()
            deadline = started + self.limit
            self._waiting.append(me)
            while self.owner != me:
                remaining = deadline - perf_counter()
                if remaining <= 0:
                    self._waiting.remove(me)
                    raise ConnectionWaitTimeout(self._timeout(me, unit))
                self._cond.wait(remaining)
            self.depth, self.held_for = 1, unit
            self.longest_wait = max(self.longest_wait, perf_counter() - started)

    def release(self) -> None:
        with self._cond:
            self.depth -= 1
            if self.depth:
                return
            if self._waiting:
                self.owner = self._waiting.popleft()
                self._cond.notify_all()
            else:
                self.owner = None

    def held_by_me(self) -> bool:
        return self.owner == threading.get_ident()

    def _timeout(self, me: int, unit: str) -> str:
        holder = self.owner
        return (
            f"arunner: thread {_thread_name(me)!r} waited {self.limit:g}s for {self.label} "
            f"to run {unit}; thread {_thread_name(holder)!r} holds it for {self.held_for}. "
            "A thread that keeps the test's connection busy (an open cursor such as an "
            "unfinished .iterator(), or an atomic block) while it waits for the other one is a "
            "deadlock: finish the unit first, or run the work on one thread.\n"
            f"Stack of {_thread_name(holder)!r} (holds the connection):\n{_stack(holder)}"
            f"Stack of {_thread_name(me)!r} (waited):\n{_stack(me)}"
        )
