"""One coroutine test: its phases, all in one ``contextvars.Context`` for the whole test.

As ``IsolatedAsyncioTestCase`` runs its phases, a coroutine phase (``asyncSetUp``, the test,
``asyncTearDown``, async cleanups, the drain) runs as a task of its own in the session's
context, and a sync phase (``setUp``, ``tearDown``, sync cleanups) runs directly on the
test's thread, in that same context: contextvars set by one phase are seen by the next, a
``ContextVar`` token made in one phase resets in another, tasks the test spawns inherit the
context, and the context ties every thread-sensitive call back to this test (``OWNER``). The
context is a copy of the loop's, where the ``ThreadSensitiveContext`` with the executor E is
already entered.

A context can be entered by one thread at a time; between phases no task of the session
runs, so a sync phase may enter it on the test's thread. There, no loop is running on that
thread (inline mode's loop is stopped between phases, hop mode's runs on its own thread), so
a sync hook meets Django's ``async_unsafe`` checks and a nested ``async_to_sync`` as it would
in a sync test.

Every coroutine test opens a session, so the common one (one coroutine phase, nothing left
running) costs one task and one turn of the loop, and builds nothing else.
"""

from __future__ import annotations

import asyncio
import contextvars
import inspect
import threading
from collections.abc import Callable, Coroutine
from typing import Any

from arunner.core import drain, inventory
from arunner.core.bridges import Bridge
from arunner.core.errors import TestTimeoutError

__unittest = True

Outcome = tuple[Any, BaseException | None]
Drained = tuple[list[drain.Started], list[drain.Started]]


async def _awaited(awaitable: Any) -> Any:
    """The coroutine phase that awaits what a sync hook returned."""
    return await awaitable


class TestSession:
    """The loop-side half of one test: runs the phases it is given, in order, then drains.

    Made as the test begins, by the run that owns the loops; ``start``, as the test's set-up
    phase starts, takes the loop (``open_bridge``, the run's: a loop made then, for a test
    with a loop of its own), and from then on the executor serves this test.
    """

    #: The bridge of the loop the phases run on, from ``start`` on.
    bridge: Bridge

    def __init__(
        self,
        open_bridge: Callable[[], Bridge],
        test: Any,
        grace: float,
        threads: drain.ThreadWatch,
        strict_tasks: bool,
        at_stake: Callable[[], bool],
        disown: Callable[[list[threading.Thread]], None],
    ) -> None:
        """``at_stake`` and ``disown`` are the run's thread guard's: whether the running test's
        isolation is at stake (then work it cannot stop fails it), and the threads to charge
        to no later test. Passed in, because the guard sits above the core."""
        self._open_bridge = open_bridge
        self.test = test
        self.grace = grace
        self.strict_tasks = strict_tasks
        self._at_stake = at_stake
        self._disown = disown
        self._threads = threads
        #: The task of the coroutine phase in progress (or the last one; None during a sync
        #: phase): what a timeout cancels.
        self.task: asyncio.Task[Any] | None = None
        self._timed_out: Any = None
        #: The context every phase runs in: from ``start`` until ``finish``.
        self._context: contextvars.Context | None = None
        #: The thread the last phase ran on (None before the first): the test's or, in hop
        #: mode, the loop's.
        self._thread: int | None = None
        self._started_threads: list[Any] = []
        self._before: drain.Before | None = None
        self._drained: Drained | None = None
        #: Whether ``start`` took the loop, and whether its phases are in progress (started,
        #: not yet finished).
        self.started = self.running = False

    def start(self) -> None:
        """The test's phases begin (at its set-up): take the loop, make the context, and have
        the executor serve this test; threads started from now on are the test's."""
        bridge = self.bridge = self._open_bridge()
        self._context = bridge.session_context(self)
        self.started = self.running = True
        self._threads.recording = self._started_threads
        bridge.begin_session(self)

    def __str__(self) -> str:
        return str(self.test_id)

    @property
    def test_id(self) -> str:
        """Asked for only in messages: building a test's id costs every test otherwise."""
        test_id: str = self.test.id()
        return test_id

    def run(self, coro: Coroutine[Any, Any, Any], last: Callable[[], bool] | None = None) -> Any:
        """Run one phase and return its result (main thread).

        When ``last()`` is true once the phase is over (nothing else will be sent), the
        session drains in the same task, saving the test a second wait in ``finish``.
        """
        context = self._context
        assert context is not None, "a phase after the session finished"
        try:
            result, exc = self.bridge.run_phase(self._phase(coro, last), context)
        except TestTimeoutError as timed_out:
            # The watchdog's signal reached the loop waiting for a phase that swallowed its
            # cancellation: the frames are arunner's and the loop's, the report says where
            # the test waits. The phase is given up; closing the loop lets go of it.
            raise timed_out.with_traceback(None) from None
        if exc is not None:
            raise exc
        return result

    def call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run one phase, sync or coroutine, and return its result (main thread).

        A sync hook runs here, in the session's context; what it returns, when awaitable,
        is awaited as a coroutine phase (``IsolatedAsyncioTestCase`` awaits it too).
        """
        if inspect.iscoroutinefunction(fn):
            return self.run(fn(*args, **kwargs))
        # No task runs a sync phase: the watchdog must not take the last phase's for its own.
        self.task = None
        context = self._context
        assert context is not None
        if self._moved_here():
            context.run(self._rehome_locals)
        result = context.run(fn, *args, **kwargs)
        if inspect.isawaitable(result):
            return self.run(_awaited(result))
        return result

    def finish(self) -> None:
        """Drain what the test left running, then leave the context (at the test's end)."""
        try:
            if self._drained is None:
                context = self._context
                assert context is not None, "a drain after the session finished"
                self._drained = self.bridge.run_phase(self._drain_phase(), context)
            cancelled, stuck = self._drained
        finally:
            self.running = False
            # Break the cycles session -> context -> ``OWNER`` -> session and session -> task
            # -> context, so a finished test is freed at once instead of by the cyclic garbage
            # collector, whose passes would otherwise cost every coroutine test.
            self._context = None
            self.task = None
            self._threads.recording = None
            self.bridge.end_session()
        if cancelled or stuck:
            self._disown([item.thread for item in stuck if item.thread is not None])
            drain.report(
                self.test_id, cancelled, stuck, self.grace, self.strict_tasks, self._at_stake()
            )

    async def _phase(
        self, coro: Coroutine[Any, Any, Any], last: Callable[[], bool] | None
    ) -> Outcome:
        """One phase's task. It ends the loop's run itself (``Bridge.phase_over``), in its
        last step, so that the main thread gets the outcome after that very turn."""
        try:
            self._begin_phase()
            outcome: Outcome
            try:
                outcome = await coro, None
            except (KeyboardInterrupt, SystemExit):
                raise
            except asyncio.CancelledError as exc:
                outcome = None, self._cancelled(exc)
            except BaseException as exc:
                outcome = None, exc
            if last is not None and last():
                self._drained = await self._drain()
            return outcome
        finally:
            self.bridge.phase_over()

    async def _drain_phase(self) -> Drained:
        try:
            self._begin_phase()
            return await self._drain()
        finally:
            self.bridge.phase_over()

    def _begin_phase(self) -> None:
        """Remember the phase's task; the first phase on the loop also notes what was running
        before. Sync phases before it run while the loop is idle (inline) or out of the test's
        reach (hop), so they have started nothing there for the drain to miss."""
        self.task = asyncio.current_task()
        if self._moved_here():
            self._rehome_locals()
        if self._before is None:
            self._before = drain.snapshot(self.bridge.loop)

    def _moved_here(self) -> bool:
        """Whether the previous phase ran on another thread (hop mode switches between the
        test's thread and the loop's); notes this one's."""
        previous, self._thread = self._thread, threading.get_ident()
        return previous is not None and previous != self._thread

    def _rehome_locals(self) -> None:
        """Give this thread the ``asgiref.local.Local`` data that the previous phase, on
        another thread, left in the session's context (called inside that context).

        asgiref ties such data to the thread that set it, and re-homes it whenever it moves
        a context to another thread itself (``async_to_sync``, ``sync_to_async``); hop mode
        moves the session's context between threads, so it does the same.
        """
        assert self._context is not None
        for var, storage in inventory.foreign_local_storage(self._context):
            inventory.rehome_local_storage(var, storage)

    def cancel_for_timeout(self, armed: Any) -> None:
        """Cancel the phase in progress (any thread); it then fails with the timeout report."""
        self.bridge.loop.call_soon_threadsafe(self._cancel_phase, armed)

    def _cancel_phase(self, armed: Any) -> None:
        if self.task is not None and not self.task.done():
            self._timed_out = armed
            self.task.cancel()

    def _cancelled(self, exc: asyncio.CancelledError) -> BaseException:
        """What a cancelled phase fails with: the timeout report when the watchdog cancelled it."""
        armed, self._timed_out = self._timed_out, None
        if armed is None or self.task is None:
            return exc
        self.task.uncancel()
        armed.delivered = True
        return TestTimeoutError(armed.report)

    async def _drain(self) -> Drained:
        """Wait for what the test started, then refuse its late thread-sensitive calls."""
        before, loop, threads = self._before, self.bridge.loop, self._started_threads
        assert before is not None
        drained: Drained = [], []
        if drain.anything_left(loop, before, threads):
            drained = await drain.Drain(loop, before, threads, self.grace).run()
        self.bridge.refuse_late_calls()
        return drained
